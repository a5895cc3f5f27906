//! Password rules (NIST SP 800-63B) and argon2id hashing with OWASP parameters.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// NIST asks to allow at least 64; we allow more, up to the byte cap below.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Input is refused above this size before any hashing, so a huge body cannot burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Common passwords refused outright (a short list of the most used ones; NIST asks for a
/// blocklist, not composition rules).
const BLOCKLIST: &str = include_str!("common-passwords.txt");

/// Checks a new password against the rules. `field` names the input field in the error.
pub fn validate_new_password(field: &'static str, password: &str) -> AppResult<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::bad_input(field, "The password is too long."));
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AppError::bad_input(
            field,
            format!("The password must have at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AppError::bad_input(
            field,
            format!("The password must have at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    let lowered = password.to_lowercase();
    if BLOCKLIST
        .lines()
        .map(str::trim)
        .any(|common| !common.is_empty() && common == lowered)
    {
        return Err(AppError::bad_input(
            field,
            "This password is too common. Choose another one.",
        ));
    }
    Ok(())
}

/// argon2id with m=19456 KiB, t=2, p=1, run off the async runtime with a cap on how many run at
/// once (each takes 19 MiB and a core for tens of milliseconds).
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email takes as long as a wrong password.
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's documented ranges; `Params::new` cannot fail
    // for them, and the fallback is the crate's default (also argon2id, 19 MiB, t=2, p=1).
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &[u8]) -> AppResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("password hashing failed: {e}")))
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> AppResult<Self> {
        let dummy = crate::domain::secrets::issue_token();
        let dummy_hash = hash_blocking(dummy.plaintext.expose().as_bytes())?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AppError::bad_input("password", "The password is too long."));
        }
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let password = password.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown account, or not yet activated)
    /// it spends the same time and answers false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> AppResult<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.as_bytes().to_vec();
        let matches = tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
            Ok(parsed) => argon2().verify_password(&password, &parsed).is_ok(),
            Err(_) => false,
        })
        .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(validate_new_password("password", "short").is_err());
        assert!(
            validate_new_password("password", "Password1").is_err(),
            "blocklisted"
        );
        assert!(validate_new_password("password", &"x".repeat(1025)).is_err());
        assert!(validate_new_password("password", "correct horse battery").is_ok());
        assert!(validate_new_password("password", &"é".repeat(64)).is_ok());
    }
}
