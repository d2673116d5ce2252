//! How a key is stored: its SHA-256 digest. Keys carry ~190 bits from the CSPRNG, so a fast
//! unsalted hash cannot be brute-forced and needs no server secret that could be lost
//! (ARCHITECTURE.md explains the choice). Digests are compared in constant time.

use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// SHA-256 of a key's full text. `Debug` shows no digest bytes.
#[derive(Clone, Copy, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(plaintext: &str) -> Self {
        Self(Sha256::digest(plaintext.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Constant-time, so a comparison never tells an attacker how many bytes matched.
impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Hashes the same bytes that `eq` compares, so the two agree.
impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_and_debug_hides_it() {
        let h = KeyHash::of("abc");
        assert_eq!(
            hex::encode(h.as_bytes()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!format!("{h:?}").contains("ba78"));
        assert_eq!(KeyHash::from_bytes(h.as_bytes()), Some(h));
        assert_ne!(KeyHash::of("abd"), h);
    }
}
