//! A workspace's verified prefix: the newest event up to which its audit chain was checked
//! intact, signed with the server's anchor key so that a database writer cannot move it
//! forward over events nobody checked. `audit verify` resumes from it instead of the start.
//!
//! A prefix is trusted only while its signature holds, it names this workspace, and the
//! chain still holds the event at its `seq` with its `hash`; otherwise the check starts over
//! from the beginning. Its signature covers a canonical form that names its own format, so
//! it can never be passed off as an anchor, nor an anchor as a prefix.

use crate::anchor::{AnchorPublicKey, AnchorSigningKey};
use crate::audit::{format_time, ChainPosition, Checkpoint};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `format` of every prefix this version writes.
pub const PREFIX_FORMAT: &str = "keyward-verified-prefix/1";

/// A verified prefix as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedPrefix {
    pub format: String,
    pub workspace_id: String,
    /// The last event checked, and its hash.
    pub seq: i64,
    pub hash: String,
    /// The newest retention checkpoint the chain recorded at or before `seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    pub verified_at: String,
    /// Hex of the Ed25519 public key that signed.
    pub public_key: String,
    /// Hex of the Ed25519 signature over [`VerifiedPrefix::canonical`].
    pub signature: String,
}

/// The fields of [`VerifiedPrefix`] but `signature`, in sorted key order.
#[derive(Serialize)]
struct Canonical<'a> {
    checkpoint: Option<&'a Checkpoint>,
    format: &'a str,
    hash: &'a str,
    public_key: &'a str,
    seq: i64,
    verified_at: &'a str,
    workspace_id: &'a str,
}

impl VerifiedPrefix {
    /// Signs `position` of `workspace_id`'s chain as verified at `now`.
    pub fn sign(
        key: &AnchorSigningKey,
        workspace_id: &str,
        position: &ChainPosition,
        now: DateTime<Utc>,
    ) -> Self {
        let mut prefix = Self {
            format: PREFIX_FORMAT.to_owned(),
            workspace_id: workspace_id.to_owned(),
            seq: position.seq,
            hash: position.hash.clone(),
            checkpoint: position.newest_checkpoint.clone(),
            verified_at: format_time(now),
            public_key: key.public_key().to_hex(),
            signature: String::new(),
        };
        prefix.signature = key.sign_hex(prefix.canonical().as_bytes());
        prefix
    }

    /// The bytes the signature covers: compact JSON with sorted keys.
    pub fn canonical(&self) -> String {
        let fields = Canonical {
            checkpoint: self.checkpoint.as_ref(),
            format: &self.format,
            hash: &self.hash,
            public_key: &self.public_key,
            seq: self.seq,
            verified_at: &self.verified_at,
            workspace_id: &self.workspace_id,
        };
        // Strings, integers and a struct of them always serialize.
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// Whether `public_key` signed this prefix of `workspace_id`, unaltered.
    pub fn is_signed_by(&self, public_key: &AnchorPublicKey, workspace_id: &str) -> bool {
        self.format == PREFIX_FORMAT
            && self.workspace_id == workspace_id
            && self.public_key == public_key.to_hex()
            && public_key.verifies(self.canonical().as_bytes(), &self.signature)
    }

    /// Where a check resumed from this prefix starts.
    pub fn position(&self) -> ChainPosition {
        ChainPosition {
            seq: self.seq,
            hash: self.hash.clone(),
            newest_checkpoint: self.checkpoint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AnchorPoint;
    use chrono::TimeZone;

    fn position() -> ChainPosition {
        ChainPosition {
            seq: 42,
            hash: "ab".repeat(32),
            newest_checkpoint: Some(Checkpoint {
                seq: 7,
                hash: "cd".repeat(32),
                retained: 3,
            }),
        }
    }

    #[test]
    fn a_signed_prefix_verifies_and_any_change_does_not() {
        let key = AnchorSigningKey::generate().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let prefix = VerifiedPrefix::sign(&key, "ws_1", &position(), now);
        assert!(prefix.is_signed_by(&key.public_key(), "ws_1"));
        assert_eq!(prefix.position(), position());
        assert!(!prefix.is_signed_by(&key.public_key(), "ws_2"));
        let mut moved = prefix.clone();
        moved.seq = 1_000_000;
        assert!(!moved.is_signed_by(&key.public_key(), "ws_1"));
        let mut rehashed = prefix.clone();
        rehashed.hash = "ef".repeat(32);
        assert!(!rehashed.is_signed_by(&key.public_key(), "ws_1"));
        let mut recut = prefix.clone();
        recut.checkpoint = None;
        assert!(!recut.is_signed_by(&key.public_key(), "ws_1"));
        let mut garbage = prefix.clone();
        garbage.signature = "not hex".to_owned();
        assert!(!garbage.is_signed_by(&key.public_key(), "ws_1"));
        let other = AnchorSigningKey::generate().unwrap();
        let forged = VerifiedPrefix::sign(&other, "ws_1", &position(), now);
        assert!(!forged.is_signed_by(&key.public_key(), "ws_1"));
        // Claiming the server's public key does not make another key's signature hold.
        let mut claimed = forged.clone();
        claimed.public_key = key.public_key().to_hex();
        assert!(!claimed.is_signed_by(&key.public_key(), "ws_1"));
    }

    #[test]
    fn an_anchor_signature_is_no_prefix_signature() {
        let key = AnchorSigningKey::generate().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let anchor = key.sign(
            "ws_1",
            &AnchorPoint {
                seq: 42,
                hash: "ab".repeat(32),
                kept: 0,
                kept_digest: None,
            },
            now,
        );
        let mut prefix = VerifiedPrefix::sign(&key, "ws_1", &position(), now);
        prefix.signature = anchor.signature;
        assert!(!prefix.is_signed_by(&key.public_key(), "ws_1"));
    }
}
