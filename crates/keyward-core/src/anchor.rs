//! Signed chain heads ("anchors"): a workspace's audit chain head signed with Ed25519 by a key
//! kept outside the database, like CloudTrail's signed digest files and Certificate
//! Transparency's signed tree heads. An anchor kept elsewhere lets `audit verify` prove that
//! the chain still extends it, which no edit of the database alone can fake: truncating the
//! chain, moving its head back or re-hashing it forward all change or lose the signed event.

use crate::audit::{format_time, AnchorPoint};
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `format` of every anchor this version writes.
pub const ANCHOR_FORMAT: &str = "keyward-audit-anchor/1";

/// A signed chain head, as exported and as checked. The signature covers the canonical
/// encoding of every other field (JSON, keys sorted, no whitespace), the same rule as an
/// event's hash, so a verifier needs nothing but an Ed25519 implementation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAnchor {
    pub format: String,
    pub workspace_id: String,
    /// The head: last seq and hash of the chain when signed.
    pub seq: i64,
    pub hash: String,
    /// Events at or before `seq` that retention never deletes (every kind but
    /// `key.verified`), so deleting one of them is caught even once the anchored event has
    /// itself been pruned.
    pub kept: u64,
    /// The running digest of the hashes of those events (see [`crate::audit::KeptDigest`]),
    /// so editing one of them is caught too. Absent in anchors signed before it existed:
    /// those are checked by `kept` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_digest: Option<String>,
    pub signed_at: String,
    /// Hex of the 32-byte Ed25519 public key that signed.
    pub public_key: String,
    /// Hex of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// The fields of [`SignedAnchor`] but `signature`, declared in sorted key order.
#[derive(Serialize)]
struct Canonical<'a> {
    format: &'a str,
    hash: &'a str,
    kept: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_digest: Option<&'a str>,
    public_key: &'a str,
    seq: i64,
    signed_at: &'a str,
    workspace_id: &'a str,
}

impl SignedAnchor {
    /// The bytes the signature covers.
    pub fn canonical(&self) -> String {
        let fields = Canonical {
            format: &self.format,
            hash: &self.hash,
            kept: self.kept,
            kept_digest: self.kept_digest.as_deref(),
            public_key: &self.public_key,
            seq: self.seq,
            signed_at: &self.signed_at,
            workspace_id: &self.workspace_id,
        };
        // Strings and integers always serialize.
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// What the chain check compares with the chain.
    pub fn point(&self) -> AnchorPoint {
        AnchorPoint {
            seq: self.seq,
            hash: self.hash.clone(),
            kept: self.kept,
            kept_digest: self.kept_digest.clone(),
        }
    }

    /// Checks the format, that `public_key` signed it, and that the signature holds.
    pub fn verify(&self, public_key: &AnchorPublicKey) -> Result<(), AnchorError> {
        if self.format != ANCHOR_FORMAT {
            return Err(AnchorError::Format);
        }
        if self.public_key != public_key.to_hex() {
            return Err(AnchorError::OtherKey);
        }
        let mut bytes = [0; 64];
        hex::decode_to_slice(&self.signature, &mut bytes).map_err(|_| AnchorError::Signature)?;
        public_key
            .0
            .verify_strict(self.canonical().as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| AnchorError::Signature)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnchorError {
    #[error("not a keyward audit anchor (format {ANCHOR_FORMAT} expected)")]
    Format,
    #[error("the anchor was signed by another key than this server's anchor key")]
    OtherKey,
    #[error("the anchor's signature does not verify: it was altered or forged")]
    Signature,
    #[error("an anchor key is 32 bytes of hex")]
    KeyEncoding,
}

/// The private half: signs anchors. `Debug` shows only the public key.
pub struct AnchorSigningKey(SigningKey);

impl AnchorSigningKey {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The key from the hex of its 32-byte seed (as [`Self::to_hex`] writes it).
    pub fn from_hex(text: &str) -> Result<Self, AnchorError> {
        let mut seed = [0; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| AnchorError::KeyEncoding)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The hex of the 32-byte seed, for the key file only.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    pub fn public_key(&self) -> AnchorPublicKey {
        AnchorPublicKey(self.0.verifying_key())
    }

    /// Hex of the signature of `message` (for other signed records of this crate, such as
    /// [`crate::verified_prefix::VerifiedPrefix`], whose canonical form names its own format).
    pub(crate) fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }

    /// Signs `head` of `workspace_id` at `now`.
    pub fn sign(&self, workspace_id: &str, head: &AnchorPoint, now: DateTime<Utc>) -> SignedAnchor {
        let mut anchor = SignedAnchor {
            format: ANCHOR_FORMAT.to_owned(),
            workspace_id: workspace_id.to_owned(),
            seq: head.seq,
            hash: head.hash.clone(),
            kept: head.kept,
            kept_digest: head.kept_digest.clone(),
            signed_at: format_time(now),
            public_key: self.public_key().to_hex(),
            signature: String::new(),
        };
        anchor.signature = hex::encode(self.0.sign(anchor.canonical().as_bytes()).to_bytes());
        anchor
    }
}

impl fmt::Debug for AnchorSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnchorSigningKey")
            .field("public_key", &self.public_key().to_hex())
            .finish_non_exhaustive()
    }
}

/// The public half: checks anchors; safe to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorPublicKey(VerifyingKey);

impl AnchorPublicKey {
    /// Whether `signature` (hex of 64 bytes) is this key's signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let mut bytes = [0; 64];
        hex::decode_to_slice(signature, &mut bytes).is_ok()
            && self
                .0
                .verify_strict(message, &Signature::from_bytes(&bytes))
                .is_ok()
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    pub fn from_hex(text: &str) -> Result<Self, AnchorError> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| AnchorError::KeyEncoding)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| AnchorError::KeyEncoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn head() -> AnchorPoint {
        AnchorPoint {
            seq: 42,
            hash: "ab".repeat(32),
            kept: 7,
            kept_digest: Some("cd".repeat(32)),
        }
    }

    #[test]
    fn a_signed_anchor_verifies_and_any_change_does_not() {
        let key = AnchorSigningKey::generate().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let anchor = key.sign("ws_1", &head(), now);
        assert_eq!(anchor.verify(&key.public_key()), Ok(()));
        assert_eq!(anchor.point(), head());

        let mut moved = anchor.clone();
        moved.seq = 41;
        assert_eq!(moved.verify(&key.public_key()), Err(AnchorError::Signature));
        let mut redigested = anchor.clone();
        redigested.kept_digest = Some("ce".repeat(32));
        assert_eq!(
            redigested.verify(&key.public_key()),
            Err(AnchorError::Signature)
        );
        // An anchor signed before the digest existed still verifies without it.
        let old_head = AnchorPoint {
            kept_digest: None,
            ..head()
        };
        let old = key.sign("ws_1", &old_head, now);
        assert!(!old.canonical().contains("kept_digest"));
        assert!(!serde_json::to_string(&old).unwrap().contains("kept_digest"));
        assert_eq!(old.verify(&key.public_key()), Ok(()));
        let mut recounted = anchor.clone();
        recounted.kept = 6;
        assert_eq!(
            recounted.verify(&key.public_key()),
            Err(AnchorError::Signature)
        );

        let other = AnchorSigningKey::generate().unwrap();
        assert_eq!(
            anchor.verify(&other.public_key()),
            Err(AnchorError::OtherKey)
        );
        let forged = other.sign("ws_1", &head(), now);
        assert_eq!(forged.verify(&key.public_key()), Err(AnchorError::OtherKey));
    }

    #[test]
    fn keys_round_trip_through_hex_and_debug_shows_no_secret() {
        let key = AnchorSigningKey::generate().unwrap();
        let again = AnchorSigningKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(
            AnchorPublicKey::from_hex(&key.public_key().to_hex()).unwrap(),
            key.public_key()
        );
        assert!(!format!("{key:?}").contains(&key.to_hex()));
        assert!(AnchorSigningKey::from_hex("not hex").is_err());
    }

    #[test]
    fn the_canonical_form_is_sorted_compact_json() {
        let key = AnchorSigningKey::generate().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let text = key.sign("ws_1", &head(), now).canonical();
        assert!(
            text.starts_with(r#"{"format":"keyward-audit-anchor/1","hash":"#),
            "{text}"
        );
        assert!(text.ends_with(r#""signed_at":"2026-01-01T00:00:00.000Z","workspace_id":"ws_1"}"#));
    }
}
