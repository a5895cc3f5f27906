//! Opaque tokens (sessions, invitations, resets, recovery codes) and the redacting wrapper that
//! keeps plaintext secrets out of logs.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret whose `Debug`/`Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Redacted(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A freshly issued token: the plaintext goes to its owner once, only the hash is stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub plaintext: Redacted<String>,
    pub hash: String,
}

/// 256 random bits, URL-safe. Used for session, invitation and reset tokens.
pub fn issue_token() -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let plaintext = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&plaintext);
    IssuedToken {
        plaintext: Redacted::new(plaintext),
        hash,
    }
}

/// Tokens carry 256 bits of entropy, so a fast hash is enough: the stored hash is useless to
/// whoever reads the database, and lookups stay an index probe.
pub fn hash_token(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.trim().as_bytes()))
}
