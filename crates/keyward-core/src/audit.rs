//! Audit events and their hash chain. Every event in a workspace stores the hash of the one
//! before it and its own hash over a canonical encoding, so editing, deleting or reordering
//! any stored event is detectable by recomputing the chain (see docs/audit.md).
//!
//! Canonical encoding: a JSON object of the fields in [`AuditEvent::canonical`], keys sorted,
//! no whitespace, UTF-8; `hash = hex(sha256(canonical))`. The first event's `prev_hash` is
//! [`GENESIS_HASH`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened. The wire name (`key.created`, …) is the event's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    WorkspaceCreated,
    RootKeyCreated,
    RootKeyRevoked,
    KeyCreated,
    KeyUpdated,
    KeyRevoked,
    KeyRotated,
    KeyVerified,
    KeyLeaked,
    PolicyUpdated,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        Self::WorkspaceCreated,
        Self::RootKeyCreated,
        Self::RootKeyRevoked,
        Self::KeyCreated,
        Self::KeyUpdated,
        Self::KeyRevoked,
        Self::KeyRotated,
        Self::KeyVerified,
        Self::KeyLeaked,
        Self::PolicyUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkspaceCreated => "workspace.created",
            Self::RootKeyCreated => "root_key.created",
            Self::RootKeyRevoked => "root_key.revoked",
            Self::KeyCreated => "key.created",
            Self::KeyUpdated => "key.updated",
            Self::KeyRevoked => "key.revoked",
            Self::KeyRotated => "key.rotated",
            Self::KeyVerified => "key.verified",
            Self::KeyLeaked => "key.leaked",
            Self::PolicyUpdated => "policy.updated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event before the store has placed it in its workspace's chain. Holds no secret by
/// construction: there is no field a key, hash or root key could go in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NewEvent {
    pub id: String,
    pub workspace_id: String,
    pub time: DateTime<Utc>,
    pub kind: String,
    /// The root key that acted (management calls and verifications).
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    /// The key acted on or verified, with its name as it was at the time.
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    /// What the calling service said the request did (`invoices.delete`) and to what
    /// (`INV-1042`); for management events, nothing.
    pub action: Option<String>,
    pub resource: Option<String>,
    /// For verifications the verify code; for management events `OK`.
    pub outcome: String,
    pub ip: Option<String>,
    pub origin: Option<String>,
    pub user_agent: Option<String>,
    /// Free text about the change, e.g. a revocation reason or the key a rotation made.
    pub detail: Option<String>,
}

impl NewEvent {
    pub fn new(workspace_id: &str, time: DateTime<Utc>, kind: EventKind) -> Self {
        Self {
            id: crate::ids::new_id(crate::ids::EVENT),
            workspace_id: workspace_id.to_owned(),
            time,
            kind: kind.as_str().to_owned(),
            outcome: "OK".to_owned(),
            ..Self::default()
        }
    }

    pub fn actor(mut self, id: &str, name: &str) -> Self {
        self.actor_id = Some(id.to_owned());
        self.actor_name = Some(name.to_owned());
        self
    }

    pub fn subject(mut self, id: &str, name: &str) -> Self {
        self.key_id = Some(id.to_owned());
        self.key_name = Some(name.to_owned());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// An event as stored: placed at `seq` in its workspace's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    #[serde(flatten)]
    pub event: NewEvent,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// Timestamps in events are RFC 3339 UTC with milliseconds, the precision stored.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl AuditEvent {
    /// The canonical encoding that `hash` covers (every field but `hash` itself).
    pub fn canonical(event: &NewEvent, seq: i64, prev_hash: &str) -> String {
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let fields: BTreeMap<&str, Value> = BTreeMap::from([
            ("action", text(&event.action)),
            ("actor_id", text(&event.actor_id)),
            ("actor_name", text(&event.actor_name)),
            ("detail", text(&event.detail)),
            ("id", Value::String(event.id.clone())),
            ("ip", text(&event.ip)),
            ("key_id", text(&event.key_id)),
            ("key_name", text(&event.key_name)),
            ("kind", Value::String(event.kind.clone())),
            ("origin", text(&event.origin)),
            ("outcome", Value::String(event.outcome.clone())),
            ("prev_hash", Value::String(prev_hash.to_owned())),
            ("resource", text(&event.resource)),
            ("seq", Value::from(seq)),
            ("time", Value::String(format_time(event.time))),
            ("user_agent", text(&event.user_agent)),
            ("workspace_id", Value::String(event.workspace_id.clone())),
        ]);
        // A BTreeMap of strings and numbers always serializes.
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// Place `event` after the event at `prev_seq` whose hash is `prev_hash`.
    pub fn chain(event: NewEvent, prev_seq: i64, prev_hash: &str) -> Self {
        let seq = prev_seq + 1;
        let hash = hex::encode(Sha256::digest(Self::canonical(&event, seq, prev_hash)));
        Self {
            event,
            seq,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    /// Whether this event's stored hash matches its contents and follows `prev_hash`.
    pub fn is_intact(&self, prev_hash: &str) -> bool {
        let recomputed = hex::encode(Sha256::digest(Self::canonical(
            &self.event,
            self.seq,
            &self.prev_hash,
        )));
        self.prev_hash == prev_hash && recomputed == self.hash
    }
}

/// Which events a query wants; newest first, `before_seq` is the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub key_id: Option<String>,
    pub kind: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The result of recomputing a workspace's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub valid: bool,
    pub events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Walks events in ascending `seq` order, starting after a checkpoint (`start_seq`,
/// `start_hash`; the genesis is `0`, [`GENESIS_HASH`]), and reports the first break.
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    checked: u64,
    broken: Option<(i64, String)>,
}

impl ChainVerifier {
    pub fn new(start_seq: i64, start_hash: &str) -> Self {
        Self {
            expected_seq: start_seq + 1,
            prev_hash: start_hash.to_owned(),
            checked: 0,
            broken: None,
        }
    }

    pub fn push(&mut self, event: &AuditEvent) {
        if self.broken.is_some() {
            return;
        }
        self.checked += 1;
        let reason = if event.seq != self.expected_seq {
            Some(format!(
                "expected seq {}, found {}",
                self.expected_seq, event.seq
            ))
        } else if event.prev_hash != self.prev_hash {
            Some("prev_hash does not match the previous event's hash".to_owned())
        } else if !event.is_intact(&self.prev_hash) {
            Some("the event's contents do not match its hash".to_owned())
        } else {
            None
        };
        match reason {
            Some(reason) => self.broken = Some((self.expected_seq.min(event.seq), reason)),
            None => {
                self.expected_seq += 1;
                self.prev_hash = event.hash.clone();
            }
        }
    }

    /// `head` is the store's record of the last seq and hash; a chain whose last event is
    /// missing is broken even though every present event is intact.
    pub fn finish(self, head: Option<(i64, &str)>) -> ChainReport {
        if let Some((seq, reason)) = self.broken {
            return ChainReport {
                valid: false,
                events: self.checked,
                first_bad_seq: Some(seq),
                reason: Some(reason),
            };
        }
        if let Some((head_seq, head_hash)) = head {
            if head_seq != self.expected_seq - 1 || head_hash != self.prev_hash {
                return ChainReport {
                    valid: false,
                    events: self.checked,
                    first_bad_seq: Some(self.expected_seq),
                    reason: Some(format!(
                        "the chain ends before its recorded head (seq {head_seq})"
                    )),
                };
            }
        }
        ChainReport {
            valid: true,
            events: self.checked,
            first_bad_seq: None,
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chain_of(n: usize) -> Vec<AuditEvent> {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut out: Vec<AuditEvent> = Vec::new();
        for _ in 0..n {
            let (seq, prev) = out
                .last()
                .map_or((0, GENESIS_HASH.to_owned()), |e| (e.seq, e.hash.clone()));
            out.push(AuditEvent::chain(
                NewEvent::new("ws_1", t, EventKind::KeyCreated),
                seq,
                &prev,
            ));
        }
        out
    }

    fn verify(events: &[AuditEvent]) -> ChainReport {
        let mut v = ChainVerifier::new(0, GENESIS_HASH);
        events.iter().for_each(|e| v.push(e));
        let head = events.last().map(|e| (e.seq, e.hash.as_str()));
        v.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain_of(5);
        assert_eq!(
            verify(&events),
            ChainReport {
                valid: true,
                events: 5,
                first_bad_seq: None,
                reason: None
            }
        );
    }

    #[test]
    fn an_edit_is_found_at_its_seq() {
        let mut events = chain_of(5);
        events[2].event.key_name = Some("someone else".into());
        let report = verify(&events);
        assert!(!report.valid);
        assert_eq!(report.first_bad_seq, Some(3));
    }

    #[test]
    fn a_deletion_is_found() {
        let mut events = chain_of(5);
        events.remove(1);
        assert_eq!(verify(&events).first_bad_seq, Some(2));
    }

    #[test]
    fn canonical_form_is_sorted_compact_json() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut e = NewEvent::new("ws_1", t, EventKind::KeyVerified);
        e.id = "ev_1".into();
        let text = AuditEvent::canonical(&e, 1, GENESIS_HASH);
        assert!(text.starts_with(r#"{"action":null,"actor_id":null,"#));
        assert!(text.contains(r#""time":"2026-01-01T00:00:00.000Z""#));
        assert!(!text.contains(' '));
    }
}
