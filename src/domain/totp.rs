//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of drift either way),
//! secrets encrypted at rest, and recovery codes stored under a keyed hash.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use totp_rs::{Algorithm, Secret, TOTP};

use super::ids::UserId;
use super::secrets::{Redacted, hash_token};
use crate::error::{AppError, AppResult};

pub const STEP_SECONDS: u64 = 30;
pub const RECOVERY_CODE_COUNT: usize = 10;
const ISSUER: &str = "portal-admin";
const CIPHER_PREFIX: &str = "v1:";

/// The key that encrypts TOTP secrets at rest (ChaCha20-Poly1305).
#[derive(Clone)]
pub struct TotpKey(Redacted<[u8; 32]>);

impl TotpKey {
    /// From 32 bytes in standard base64 (the `TOTP_ENCRYPTION_KEY` format).
    pub fn from_base64(encoded: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| anyhow::anyhow!("TOTP_ENCRYPTION_KEY is not valid base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("TOTP_ENCRYPTION_KEY must be 32 bytes"))?;
        Ok(Self(Redacted::new(key)))
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(Redacted::new(key))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose())
    }

    /// The key recovery codes are hashed under, derived from this one (HMAC-SHA-256 of a fixed
    /// label): one secret to configure, and never the same key for two purposes.
    pub fn recovery_code_key(&self) -> RecoveryCodeKey {
        let mut mac = hmac_sha256(self.0.expose());
        mac.update(b"portal-admin recovery codes v1");
        RecoveryCodeKey(Redacted::new(mac.finalize().into_bytes().into()))
    }

    /// The key mail bodies wait in the outbox under (they hold invitation, reset and
    /// email-change links), derived like [`Self::recovery_code_key`].
    pub fn outbox_key(&self) -> TotpKey {
        let mut mac = hmac_sha256(self.0.expose());
        mac.update(b"portal-admin outbox v1");
        TotpKey(Redacted::new(mac.finalize().into_bytes().into()))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.0.expose()))
    }

    /// `v1:` + base64(nonce ‖ ChaCha20-Poly1305 ciphertext), `aad` authenticated.
    fn seal(&self, aad: &str, plaintext: &[u8]) -> Option<String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        let mut blob = nonce.to_vec();
        blob.extend(ciphertext);
        Some(format!("{CIPHER_PREFIX}{}", STANDARD.encode(blob)))
    }

    fn open(&self, aad: &str, stored: &str) -> Option<Vec<u8>> {
        let blob = STANDARD.decode(stored.strip_prefix(CIPHER_PREFIX)?).ok()?;
        if blob.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = blob.split_at(12);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
    }

    /// Encrypts a secret for one user: the user id is authenticated data, so a ciphertext
    /// copied onto another user's row does not decrypt.
    pub fn encrypt(&self, user_id: UserId, secret: &[u8]) -> AppResult<String> {
        self.seal(&format!("totp:{user_id}"), secret)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("TOTP secret encryption failed")))
    }

    pub fn decrypt(&self, user_id: UserId, stored: &str) -> AppResult<Redacted<Vec<u8>>> {
        self.open(&format!("totp:{user_id}"), stored)
            .map(Redacted::new)
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "TOTP secret of user {user_id} does not decrypt"
                ))
            })
    }

    /// Encrypts a text bound to `context` (e.g. an outbox row's purpose).
    pub fn seal_text(&self, context: &str, text: &str) -> AppResult<String> {
        self.seal(context, text.as_bytes())
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("encryption failed")))
    }

    /// The text [`Self::seal_text`] sealed under `context`, or None when it does not open
    /// (another key, another context, altered).
    pub fn open_text(&self, context: &str, stored: &str) -> Option<String> {
        String::from_utf8(self.open(context, stored)?).ok()
    }
}

/// A fresh 160-bit secret.
pub fn generate_secret() -> Redacted<Vec<u8>> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    Redacted::new(secret)
}

fn totp(secret: &[u8], account: &str) -> AppResult<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("TOTP setup failed: {e}")))
}

/// The base32 secret a person types into an authenticator app.
pub fn secret_base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

pub fn otpauth_uri(secret: &[u8], account: &str) -> AppResult<String> {
    Ok(totp(secret, account)?.get_url())
}

/// The time step `code` is valid for at `unix_seconds` (allowing one step either way), or None.
/// The caller accepts the code only if that step is newer than the last one used.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "").ok()?;
    let current = unix_seconds / STEP_SECONDS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * STEP_SECONDS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

/// The code for `unix_seconds` (tests and the console's examples compute codes this way).
pub fn code_at(secret: &[u8], unix_seconds: u64) -> AppResult<String> {
    Ok(totp(secret, "")?.generate(unix_seconds))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key length"))
}

/// How a stored recovery-code hash starts: HMAC-SHA-256 under [`RecoveryCodeKey`]. Rows written
/// before it (a bare, unkeyed SHA-256 in hex) are rewritten once by
/// `two_factor::upgrade_legacy_recovery_codes`.
pub const RECOVERY_HASH_PREFIX: &str = "hmac1:";

/// Recovery codes are stored as `hmac1:` + HMAC-SHA-256(key, user id, SHA-256(code)). Keyed, so a
/// copy of the database alone gives nothing to test guesses against; bound to the user, so equal
/// codes of two users never share a hash (what a salt does). The inner SHA-256 is the digest the
/// first version stored, which lets existing rows be upgraded without their plaintext.
#[derive(Clone)]
pub struct RecoveryCodeKey(Redacted<[u8; 32]>);

impl RecoveryCodeKey {
    /// The stored form of `code` for `user_id` (case, spaces and dashes ignored).
    pub fn hash(&self, user_id: UserId, code: &str) -> String {
        self.wrap(user_id, &legacy_recovery_hash(code))
    }

    /// The stored form for a row that holds the unkeyed digest of the first version.
    pub fn upgrade_legacy(&self, user_id: UserId, legacy_hex: &str) -> String {
        self.wrap(user_id, legacy_hex)
    }

    fn wrap(&self, user_id: UserId, digest_hex: &str) -> String {
        let mut mac = hmac_sha256(self.0.expose());
        mac.update(format!("{user_id}:{digest_hex}").as_bytes());
        format!(
            "{RECOVERY_HASH_PREFIX}{}",
            hex::encode(mac.finalize().into_bytes())
        )
    }
}

/// Whether a stored hash is the first version's unkeyed SHA-256 (64 hex digits, no prefix).
pub fn is_legacy_recovery_hash(stored: &str) -> bool {
    stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Ten single-use recovery codes like `k3f9-2mzq-x7aa-p0w4` (16 characters of 31, uniform:
/// 79 random bits each), with their
/// stored hashes for `user_id`.
pub fn generate_recovery_codes(
    key: &RecoveryCodeKey,
    user_id: UserId,
) -> Vec<(Redacted<String>, String)> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            // Uniform over the alphabet: bytes past the last whole multiple of its length are
            // drawn again (plain `% len` would favour the first letters).
            let limit = 256 - 256 % ALPHABET.len();
            let mut chars: Vec<char> = Vec::with_capacity(16);
            while chars.len() < 16 {
                let mut byte = [0u8; 1];
                rand::rngs::OsRng.fill_bytes(&mut byte);
                let b = usize::from(byte[0]);
                if b < limit {
                    chars.push(ALPHABET[b % ALPHABET.len()] as char);
                }
            }
            let code = chars
                .chunks(4)
                .map(|chunk| chunk.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-");
            let hash = key.hash(user_id, &code);
            (Redacted::new(code), hash)
        })
        .collect()
}

/// The first version's digest: SHA-256 of the code lowercased, without spaces and dashes.
fn legacy_recovery_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hash_token(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_is_bound_to_the_user() {
        let key = TotpKey::generate();
        let secret = generate_secret();
        let stored = key.encrypt(UserId(7), secret.expose()).expect("encrypt");
        assert_eq!(
            key.decrypt(UserId(7), &stored).expect("decrypt").expose(),
            secret.expose()
        );
        assert!(key.decrypt(UserId(8), &stored).is_err());
        assert!(TotpKey::generate().decrypt(UserId(7), &stored).is_err());
    }

    #[test]
    fn codes_match_within_one_step() {
        let secret = generate_secret();
        let now = 1_800_000_000;
        let code = code_at(secret.expose(), now).expect("code");
        assert_eq!(matching_step(secret.expose(), &code, now), Some(now / 30));
        assert_eq!(
            matching_step(secret.expose(), &code, now + 30),
            Some(now / 30)
        );
        assert_eq!(matching_step(secret.expose(), &code, now + 90), None);
        assert_eq!(matching_step(secret.expose(), "12345", now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_normalised_keyed_and_bound_to_the_user() {
        let key = TotpKey::generate().recovery_code_key();
        let codes = generate_recovery_codes(&key, UserId(7));
        assert_eq!(codes.len(), 10);
        let (code, hash) = &codes[0];
        assert!(hash.starts_with(RECOVERY_HASH_PREFIX), "{hash}");
        assert!(!is_legacy_recovery_hash(hash));
        assert_eq!(
            key.hash(UserId(7), &code.expose().to_uppercase().replace('-', " ")),
            *hash
        );
        assert_ne!(
            key.hash(UserId(8), code.expose()),
            *hash,
            "bound to the user"
        );
        let other_key = TotpKey::generate().recovery_code_key();
        assert_ne!(other_key.hash(UserId(7), code.expose()), *hash, "keyed");
        let unique: std::collections::HashSet<_> = codes.iter().map(|(_, h)| h).collect();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn a_legacy_digest_upgrades_to_the_hash_of_its_code() {
        let key = TotpKey::generate().recovery_code_key();
        let legacy = legacy_recovery_hash("k3f9-2mzq-x7aa-p0w4");
        assert!(is_legacy_recovery_hash(&legacy));
        assert_eq!(
            key.upgrade_legacy(UserId(3), &legacy),
            key.hash(UserId(3), "K3F9 2MZQ X7AA P0W4")
        );
    }
}
