//! Password rules (NIST SP 800-63B-4 §3.1.1.2) and argon2id hashing with OWASP parameters.
//!
//! The rules, all in [`validate_new_password`]: at least [`MIN_PASSWORD_CHARS`] characters, up to
//! [`MAX_PASSWORD_CHARS`] (never truncated), at most [`MAX_PASSWORD_BYTES`] of input, and not one of
//! the most common passwords (`blocklist`). No composition rules: NIST advises against them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::hash_pool::{HashMemory, HashPool, PoolError};
use crate::error::{AppError, AppResult};

mod blocklist;

pub use blocklist::warm_up as warm_up_blocklist;

/// NIST's minimum for a password that is the only factor. 2FA is optional here and an admin can
/// turn it off without the password changing, so any password may end up single-factor: the
/// stronger minimum applies to all (a short sentence is easy to type and to remember).
pub const MIN_PASSWORD_CHARS: usize = 15;
/// NIST asks to allow at least 64; we allow more, up to the byte cap below.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Input is refused above this size before any hashing, so a huge body cannot burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password against the rules; the one entry point for every place a password is
/// chosen. `field` names the input field in the error.
pub fn validate_new_password(field: &'static str, password: &str) -> AppResult<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::bad_input(field, "The password is too long."));
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AppError::bad_input(
            field,
            format!(
                "The password must have at least {MIN_PASSWORD_CHARS} characters. A short sentence works well."
            ),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AppError::bad_input(
            field,
            format!("The password must have at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    if blocklist::contains(password)? {
        return Err(AppError::bad_input(
            field,
            "This password is too common. Choose another one.",
        ));
    }
    Ok(())
}

/// argon2id with m=19456 KiB, t=2, p=1, computed on the [`HashPool`]'s threads (never on the
/// async runtime): at most `concurrency` at once, at most `queue` waiting, each reusing its
/// thread's memory. A hash that finds the queue full answers `RATE_LIMITED` at once.
#[derive(Clone)]
pub struct PasswordHasher {
    pool: HashPool,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown email takes as long as a wrong password.
    dummy_hash: Arc<String>,
    /// How many argon2 computations (hashes and verifications) ran: a deterministic count that
    /// shows a refused request cost no hashing.
    runs: Arc<AtomicU64>,
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's documented ranges; `Params::new` cannot fail
    // for them, and the fallback is the crate's default (also argon2id, 19 MiB, t=2, p=1).
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether a stored PHC string uses today's algorithm and parameters (argon2id v19, m, t, p as
/// [`argon2()`]); a hash that does not is upgraded at the next successful sign-in.
pub fn is_current_hash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let current = argon2();
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && params.m_cost() == current.params().m_cost()
        && params.t_cost() == current.params().t_cost()
        && params.p_cost() == current.params().p_cost()
}

/// A new PHC hash string of `password` with a fresh salt, computed in `memory`.
fn hash_blocking(password: &[u8], memory: &mut HashMemory) -> AppResult<String> {
    let failed = |e: &dyn std::fmt::Display| {
        AppError::internal(anyhow::anyhow!("password hashing failed: {e}"))
    };
    let argon2 = argon2();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let blocks = memory.blocks(argon2.params().block_count());
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(password, salt_bytes, &mut output, blocks)
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash`, with the hash's own parameters, computed
/// in `memory`. Anything unparsable is no match.
fn verify_blocking(password: &[u8], hash: &str, memory: &mut HashMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let blocks = memory.blocks(argon2.params().block_count());
    Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password, salt_bytes, out, blocks)
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    // `Output`'s equality is constant-time.
    .is_ok_and(|computed| computed == expected)
}

impl From<PoolError> for AppError {
    fn from(err: PoolError) -> Self {
        match err {
            // Every hashing thread is busy and the queue is full: a burst of sign-ins (or a
            // credential-stuffing run). The client may retry shortly; nothing was checked.
            PoolError::Busy => AppError::RateLimited {
                retry_after_seconds: 1,
            },
            PoolError::Failed => AppError::internal(anyhow::anyhow!("password hashing failed")),
        }
    }
}

impl PasswordHasher {
    /// `concurrency` hashing threads and room for `queue` waiting hashes.
    pub fn new(concurrency: usize, queue: usize) -> AppResult<Self> {
        warm_up_blocklist()?;
        let pool = HashPool::new(concurrency, queue).map_err(AppError::internal)?;
        let dummy = crate::domain::secrets::issue_token();
        let dummy = dummy.plaintext.expose().as_bytes().to_vec();
        // On the pool, so the memory it takes is the memory later hashes reuse.
        let dummy_hash = pool.run_blocking(move |memory| hash_blocking(&dummy, memory))??;
        Ok(Self {
            pool,
            dummy_hash: Arc::new(dummy_hash),
            runs: Arc::new(AtomicU64::new(0)),
        })
    }

    /// argon2 computations started since start-up (a queue refusal is not one).
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The pool the hashes run on (its size and gauges).
    pub fn pool(&self) -> &HashPool {
        &self.pool
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AppError::bad_input("password", "The password is too long."));
        }
        let password = password.as_bytes().to_vec();
        let runs = Arc::clone(&self.runs);
        // No pool connection sits idle in the request while the hash runs.
        crate::db::release_request_connection();
        self.pool
            .run(move |memory| {
                runs.fetch_add(1, Ordering::Relaxed);
                hash_blocking(&password, memory)
            })
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown account, or not yet activated)
    /// it spends the same time and answers false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> AppResult<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.as_bytes().to_vec();
        let runs = Arc::clone(&self.runs);
        crate::db::release_request_connection();
        let matches = self
            .pool
            .run(move |memory| {
                runs.fetch_add(1, Ordering::Relaxed);
                verify_blocking(&password, &hash, memory)
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(password: &str) -> bool {
        validate_new_password("password", password).is_err()
    }

    #[test]
    fn length_rules_count_characters_not_bytes() {
        assert!(rejected("fourteen chars"), "14 characters");
        assert!(!rejected("fifteen chars!!"), "15 characters");
        // 15 characters, 30 bytes.
        assert!(!rejected(&"é".repeat(15)));
        assert!(rejected(&"é".repeat(14)));
        assert!(!rejected(&("x".repeat(MAX_PASSWORD_CHARS - 1) + "y")));
        assert!(rejected(&"x".repeat(MAX_PASSWORD_CHARS + 1)));
        // 300 characters of 4 bytes: over the byte cap before anything else is looked at.
        let err = validate_new_password("password", &"😀".repeat(300)).expect_err("too long");
        assert!(err.message().contains("too long"), "{err:?}");
    }

    #[test]
    fn long_passwords_are_not_truncated() {
        // A password that passed at 64 characters differs from one with its last character
        // changed only in that character: both valid, and (see the hasher test) not equal.
        let a = format!("{}a", "long passphrase ".repeat(4).trim_end());
        let b = format!("{}b", "long passphrase ".repeat(4).trim_end());
        assert_eq!(a.chars().count(), 64);
        assert!(!rejected(&a) && !rejected(&b));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "Password1!",
            "password1!",
            "PASSWORD1!",
            "iloveyou123",
            "qwertyuiop",
            "1234567890",
            "passwordpassword",
            "1q2w3e4r5t6y7u8i",
        ] {
            let err = validate_new_password("newPassword", common);
            // Short ones fail the length rule first; either way they are refused.
            assert!(err.is_err(), "{common} accepted");
        }
        for common in ["passwordpassword", "1q2w3e4r5t6y7u8i", "PasswordPassword"] {
            assert!(blocklist::contains(common).expect("list"), "{common}");
        }
        assert!(blocklist::contains("Password1!").expect("list"));
        assert!(!rejected("correct horse battery staple"));
        assert!(!rejected("a-long-password"), "the README's example");
    }

    #[tokio::test]
    async fn the_last_character_of_a_64_character_password_counts() {
        let hasher = PasswordHasher::new(1, 4).expect("hasher");
        let password = "x".repeat(63) + "a";
        let hash = hasher.hash(&password).await.expect("hash");
        assert!(hasher.verify(&password, Some(&hash)).await.expect("verify"));
        let changed = "x".repeat(63) + "b";
        assert!(!hasher.verify(&changed, Some(&hash)).await.expect("verify"));
    }

    /// Hashes made in reused memory are ordinary PHC strings: argon2's own verifier accepts
    /// them, and ours accepts argon2's (stored hashes from before stay valid).
    #[test]
    fn reused_memory_hashes_are_standard_argon2id() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let mut memory = HashMemory::default();
        let ours = hash_blocking(b"correct horse battery", &mut memory).expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("PHC string");
        assert!(
            argon2()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(
            argon2()
                .verify_password(b"correct horse batterY", &parsed)
                .is_err()
        );

        // Again in the same (now dirty) memory: a fresh salt, and still right.
        let again = hash_blocking(b"correct horse battery", &mut memory).expect("hash");
        assert_ne!(ours, again);
        assert!(verify_blocking(
            b"correct horse battery",
            &again,
            &mut memory
        ));
        assert!(verify_blocking(
            b"correct horse battery",
            &ours,
            &mut memory
        ));

        let theirs = argon2()
            .hash_password(
                b"tr0ub4dor&3",
                &SaltString::generate(&mut rand::rngs::OsRng),
            )
            .expect("hash")
            .to_string();
        assert!(verify_blocking(b"tr0ub4dor&3", &theirs, &mut memory));
        assert!(!verify_blocking(b"tr0ub4dor&4", &theirs, &mut memory));
        // Other parameters than ours (an older, cheaper hash) are verified with their own.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).expect("params"),
        )
        .hash_password(
            b"tr0ub4dor&3",
            &SaltString::generate(&mut rand::rngs::OsRng),
        )
        .expect("hash")
        .to_string();
        assert!(verify_blocking(b"tr0ub4dor&3", &cheap, &mut memory));
        assert!(!verify_blocking(b"tr0ub4dor&3", "not a hash", &mut memory));
    }
}
