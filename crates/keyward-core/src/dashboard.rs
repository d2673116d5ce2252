//! What the dashboard stores: sign-in sessions and one-time handover links. Neither record
//! holds a secret a reader of the database could use: a session is found by the SHA-256 of
//! its token, and a handover link holds its key encrypted under a key derived from the link's
//! secret part, which only the link's holder has, and the SHA-256 of that secret.

use crate::hashing::KeyHash;
use chrono::{DateTime, Utc};

/// A dashboard session: a root key signed in, found by the hash of the token in its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session token (the cookie's value); the token itself is never stored.
    pub token_hash: KeyHash,
    pub workspace_id: String,
    /// The root key that signed in; the session ends when it is revoked.
    pub root_key_id: String,
    pub created_at: DateTime<Utc>,
    /// The last request the session made (idle expiry counts from here).
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, however active the session is.
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Whether the session still admits a request at `now`: before its absolute end and
    /// seen within `idle`.
    pub fn is_live(&self, now: DateTime<Utc>, idle: chrono::Duration) -> bool {
        now < self.expires_at && now < self.last_seen_at + idle
    }
}

/// A key waiting to be picked up through a one-time link.
#[derive(Clone, PartialEq, Eq)]
pub struct Handover {
    pub id: String,
    pub workspace_id: String,
    /// The key handed over (its id and name, for the page and the audit trail).
    pub key_id: String,
    pub key_name: String,
    /// SHA-256 of the link's secret part.
    pub secret_hash: KeyHash,
    /// Which derivation and cipher sealed the key (see `keyward_app::handover`).
    pub key_version: i32,
    pub nonce: Vec<u8>,
    /// The key, encrypted under a key derived from the link's secret part.
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Prints no ciphertext or nonce (they are useless without the link, but have no place in
/// a log either).
impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handover")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_or_at_its_absolute_end() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let idle = chrono::Duration::minutes(30);
        let session = Session {
            token_hash: KeyHash::of("t"),
            workspace_id: "ws_1".into(),
            root_key_id: "rk_1".into(),
            created_at: t0,
            last_seen_at: t0,
            expires_at: t0 + chrono::Duration::hours(12),
        };
        assert!(session.is_live(t0 + chrono::Duration::minutes(29), idle));
        assert!(!session.is_live(t0 + chrono::Duration::minutes(30), idle));
        let active = Session {
            last_seen_at: t0 + chrono::Duration::hours(12),
            ..session
        };
        assert!(!active.is_live(t0 + chrono::Duration::hours(12), idle));
    }

    #[test]
    fn a_handover_prints_no_ciphertext() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let handover = Handover {
            id: "ho_1".into(),
            workspace_id: "ws_1".into(),
            key_id: "key_1".into(),
            key_name: "billing".into(),
            secret_hash: KeyHash::of("s"),
            key_version: 1,
            nonce: vec![7; 12],
            ciphertext: b"sealed-bytes".to_vec(),
            created_at: t0,
            expires_at: t0,
        };
        let printed = format!("{handover:?}");
        assert!(printed.contains("ho_1"));
        assert!(!printed.contains("sealed") && !printed.contains("[7, 7"));
    }
}
