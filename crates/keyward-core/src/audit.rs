//! Audit events and their hash chain. Every event in a workspace stores the hash of the one
//! before it and its own hash over a canonical encoding, so editing, deleting or reordering
//! any stored event is detectable by recomputing the chain (see docs/audit.md).
//!
//! Canonical encoding: a JSON object of the fields in [`AuditEvent::canonical`], keys sorted,
//! no whitespace, UTF-8; `hash = hex(sha256(canonical))`. The first event's `prev_hash` is
//! [`GENESIS_HASH`].

use crate::verify::VerifyCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    WorkspaceUpdated,
    PolicyUpdated,
    AuditCheckpoint,
    /// A root key signed in to the dashboard.
    DashboardSignedIn,
    /// A dashboard session ended by signing out.
    DashboardSignedOut,
    /// A one-time handover link was made for a new key.
    KeyHandoverCreated,
    /// A handover link was opened: the key was picked up.
    KeyPickedUp,
    /// A key another system issued, imported by its digest (`keyward import`).
    KeyImported,
    /// A key disabled by the workspace's advice settings after going unused (`crate::advice`).
    KeyAutoDisabled,
    /// A root key dismissed a safety advice item about a key.
    AdviceDismissed,
    /// The workspace's safety advice settings changed.
    AdviceSettingsUpdated,
}

impl EventKind {
    pub const ALL: [EventKind; 20] = [
        Self::WorkspaceCreated,
        Self::RootKeyCreated,
        Self::RootKeyRevoked,
        Self::KeyCreated,
        Self::KeyUpdated,
        Self::KeyRevoked,
        Self::KeyRotated,
        Self::KeyVerified,
        Self::KeyLeaked,
        Self::WorkspaceUpdated,
        Self::PolicyUpdated,
        Self::AuditCheckpoint,
        Self::DashboardSignedIn,
        Self::DashboardSignedOut,
        Self::KeyHandoverCreated,
        Self::KeyPickedUp,
        Self::KeyImported,
        Self::KeyAutoDisabled,
        Self::AdviceDismissed,
        Self::AdviceSettingsUpdated,
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
            Self::WorkspaceUpdated => "workspace.updated",
            Self::PolicyUpdated => "policy.updated",
            Self::AuditCheckpoint => "audit.checkpoint",
            Self::DashboardSignedIn => "dashboard.signed_in",
            Self::DashboardSignedOut => "dashboard.signed_out",
            Self::KeyHandoverCreated => "key.handover_created",
            Self::KeyPickedUp => "key.picked_up",
            Self::KeyImported => "key.imported",
            Self::KeyAutoDisabled => "key.auto_disabled",
            Self::AdviceDismissed => "advice.dismissed",
            Self::AdviceSettingsUpdated => "advice.settings_updated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event before the store has placed it in its workspace's chain. Holds no secret by
/// construction: there is no field a key, hash or root key could go in.
// `default`: an event written by an older version (e.g. in the audit journal when upgrading
// after a crash) still reads when a field has been added since.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewEvent {
    pub id: String,
    pub workspace_id: String,
    #[serde(serialize_with = "serialize_time")]
    pub time: DateTime<Utc>,
    /// What happened: `key.created`, `key.verified`, … (see [`EventKind`]).
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

    /// Why every engine refuses this event, if it does (an event without an id). A store
    /// that holds events before its database takes them in (the audit journal) checks this
    /// first, so an event the database would refuse is refused at once instead of waiting in
    /// the journal forever.
    pub fn refusal(&self) -> Option<&'static str> {
        self.id.is_empty().then_some("an audit event without an id")
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

/// Events serialize their time exactly as the canonical encoding writes it, so an exported
/// event can be re-hashed as it stands.
fn serialize_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// Where retention cut a workspace's chain: the newest event at or before the cut (`seq`,
/// `hash`), and how many events at or before it were kept (management events). Verification
/// of the chain resumes from here.
///
/// A checkpoint is itself a chained event (`audit.checkpoint`, the fields as JSON in its
/// `detail`), appended in the transaction that prunes: the chain check takes the cut from
/// the newest such event, so a checkpoint cannot be written, moved or deleted without
/// breaking the chain (an unchained row could hide any event before the cut it claimed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub retained: u64,
}

impl Checkpoint {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
            retained: 0,
        }
    }

    /// The `audit.checkpoint` event that records this cut in `workspace_id`'s chain.
    pub fn event(&self, workspace_id: &str, time: DateTime<Utc>) -> NewEvent {
        // A struct of an integer and strings always serializes.
        let detail = serde_json::to_string(self).unwrap_or_default();
        NewEvent::new(workspace_id, time, EventKind::AuditCheckpoint).detail(detail)
    }

    /// The cut an `audit.checkpoint` event records; `None` for any other event, or one whose
    /// detail is not a checkpoint (which only tampering produces).
    pub fn of_event(event: &NewEvent) -> Option<Self> {
        if event.kind != EventKind::AuditCheckpoint.as_str() {
            return None;
        }
        serde_json::from_str(event.detail.as_deref()?).ok()
    }
}

/// A chain head signed outside the database (see [`crate::anchor`]): the chain must still
/// hold the event at `seq` with this `hash`, and exactly `kept` events at or before it that
/// retention never deletes (every kind but `key.verified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorPoint {
    pub seq: i64,
    pub hash: String,
    pub kept: u64,
    /// The [`KeptDigest`] of the events that retention never deletes at or before `seq`: it
    /// binds their contents, not only their number. `None` in anchors signed before it
    /// existed, which then bind the count alone.
    pub kept_digest: Option<String>,
}

/// A running digest over the hashes of the events that retention never deletes (every kind
/// but `key.verified`), in seq order: starting from [`GENESIS_HASH`], each such event makes
/// it `hex(sha256(digest ++ hash))` (the two hex texts concatenated). An anchor signs it, so
/// an edit of any kept event the anchor covers is found even where retention's gaps leave
/// the event without a neighbour to link to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptDigest(String);

impl Default for KeptDigest {
    fn default() -> Self {
        Self(GENESIS_HASH.to_owned())
    }
}

impl KeptDigest {
    /// Adds `event` if it is one retention never deletes.
    pub fn push(&mut self, kind: &str, hash: &str) {
        if kind != EventKind::KeyVerified.as_str() {
            self.push_kept(hash);
        }
    }

    /// Adds an event known to be one retention never deletes, by its hash.
    pub fn push_kept(&mut self, hash: &str) {
        let mut sha = Sha256::new();
        sha.update(self.0.as_bytes());
        sha.update(hash.as_bytes());
        self.0 = hex::encode(sha.finalize());
    }

    pub fn hex(&self) -> &str {
        &self.0
    }
}

/// The fields of [`AuditEvent::canonical`], declared in sorted key order (serde writes
/// them in declaration order).
#[derive(Serialize)]
struct Canonical<'a> {
    action: Option<&'a str>,
    actor_id: Option<&'a str>,
    actor_name: Option<&'a str>,
    detail: Option<&'a str>,
    id: &'a str,
    ip: Option<&'a str>,
    key_id: Option<&'a str>,
    key_name: Option<&'a str>,
    kind: &'a str,
    origin: Option<&'a str>,
    outcome: &'a str,
    prev_hash: &'a str,
    resource: Option<&'a str>,
    seq: i64,
    time: String,
    user_agent: Option<&'a str>,
    workspace_id: &'a str,
}

impl AuditEvent {
    /// The canonical encoding that `hash` covers (every field but `hash` itself): a JSON
    /// object with its keys sorted. Serialized from a struct whose fields are declared in
    /// that order, borrowing the event's strings: the same bytes as sorting a map of the
    /// fields, without building and sorting one per event (a test holds the two equal).
    pub fn canonical(event: &NewEvent, seq: i64, prev_hash: &str) -> String {
        let fields = Canonical {
            action: event.action.as_deref(),
            actor_id: event.actor_id.as_deref(),
            actor_name: event.actor_name.as_deref(),
            detail: event.detail.as_deref(),
            id: &event.id,
            ip: event.ip.as_deref(),
            key_id: event.key_id.as_deref(),
            key_name: event.key_name.as_deref(),
            kind: &event.kind,
            origin: event.origin.as_deref(),
            outcome: &event.outcome,
            prev_hash,
            resource: event.resource.as_deref(),
            seq,
            time: format_time(event.time),
            user_agent: event.user_agent.as_deref(),
            workspace_id: &event.workspace_id,
        };
        // Strings, options and an integer always serialize.
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// The hash of `event` at `seq` after `prev_hash`: hex SHA-256 of the canonical encoding.
    pub fn hash_of(event: &NewEvent, seq: i64, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(Self::canonical(event, seq, prev_hash)))
    }

    /// Place `event` after the event at `prev_seq` whose hash is `prev_hash`.
    pub fn chain(event: NewEvent, prev_seq: i64, prev_hash: &str) -> Self {
        let seq = prev_seq + 1;
        let hash = Self::hash_of(&event, seq, prev_hash);
        Self {
            event,
            seq,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    /// Whether this event's stored hash matches its contents and follows `prev_hash`.
    pub fn is_intact(&self, prev_hash: &str) -> bool {
        self.prev_hash == prev_hash
            && Self::hash_of(&self.event, self.seq, &self.prev_hash) == self.hash
    }
}

/// An event's outcome: `OK` for a management event, the verify code for a verification.
/// Events keep the text ([`NewEvent::outcome`]), which their hash covers; this is what a
/// query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventOutcome {
    Ok,
    Verify(VerifyCode),
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Verify(code) => code.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s == "OK" {
            return Some(Self::Ok);
        }
        VerifyCode::parse(s).map(Self::Verify)
    }
}

/// Which events a query wants; newest first, `before_seq` is the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub key_id: Option<String>,
    pub kind: Option<EventKind>,
    pub action: Option<String>,
    pub outcome: Option<EventOutcome>,
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

/// How far a chain was checked intact: the last event's `seq` and `hash`, and the newest
/// retention checkpoint the chain recorded up to it. A check resumes from here
/// ([`ChainVerifier::resume`]) instead of the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPosition {
    pub seq: i64,
    pub hash: String,
    pub newest_checkpoint: Option<Checkpoint>,
}

/// Walks a workspace's events in ascending `seq` order and reports the first break.
///
/// After the retention checkpoint every event must follow its predecessor exactly (seq + 1,
/// `prev_hash` = the previous `hash`, and its own hash recomputes). At or before the checkpoint,
/// pruned verification events leave gaps: kept events must still hash correctly, link to a
/// kept predecessor where there is one, and number exactly `checkpoint.retained`. The
/// checkpoint must be the newest `audit.checkpoint` event of the chain itself, and a chain
/// with events must have a recorded head. Whether the chain extends a signed anchor is
/// [`crate::anchor_binding::AnchorBinding`]'s to say.
pub struct ChainVerifier {
    cut: Checkpoint,
    /// The checkpoint the check was given (the store's newest `audit.checkpoint` event).
    given: Option<Checkpoint>,
    expected_seq: i64,
    prev_hash: Option<String>,
    retained_seen: u64,
    checked: u64,
    first_seq: Option<i64>,
    /// The newest `audit.checkpoint` event met in the chain, with its seq.
    newest_checkpoint: Option<(i64, Checkpoint)>,
    broken: Option<(i64, String)>,
}

impl ChainVerifier {
    pub fn new(checkpoint: Option<Checkpoint>) -> Self {
        Self {
            cut: checkpoint.clone().unwrap_or_else(Checkpoint::genesis),
            given: checkpoint,
            expected_seq: 1,
            prev_hash: Some(GENESIS_HASH.to_owned()),
            retained_seen: 0,
            checked: 0,
            first_seq: None,
            newest_checkpoint: None,
            broken: None,
        }
    }

    /// Continues a check whose events up to `from` were verified intact. `from` must lie at
    /// or after the cut of `checkpoint` (the kept events before the cut were counted by
    /// the check that reached `from`); `None` when it does not, and the check must start
    /// over.
    pub fn resume(checkpoint: Option<Checkpoint>, from: ChainPosition) -> Option<Self> {
        let mut verifier = Self::new(checkpoint);
        if from.seq < verifier.cut.seq {
            return None;
        }
        verifier.expected_seq = from.seq + 1;
        verifier.prev_hash = Some(from.hash);
        verifier.retained_seen = verifier.cut.retained;
        verifier.newest_checkpoint = from.newest_checkpoint.map(|c| (from.seq, c));
        Some(verifier)
    }

    /// Whether a break was found among the events pushed so far.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// How far the events pushed so far are intact, once past the retention cut with every
    /// kept event before it counted; `None` while broken or still before the cut.
    pub fn position(&self) -> Option<ChainPosition> {
        let seq = self.expected_seq - 1;
        if self.broken.is_some() || seq < self.cut.seq || self.retained_seen != self.cut.retained {
            return None;
        }
        Some(ChainPosition {
            seq,
            hash: self.prev_hash.clone()?,
            newest_checkpoint: self.newest_checkpoint.as_ref().map(|(_, c)| c.clone()),
        })
    }

    pub fn push(&mut self, event: &AuditEvent) {
        if self.broken.is_some() {
            return;
        }
        self.checked += 1;
        self.first_seq.get_or_insert(event.seq);
        let intact = event.is_intact(&event.prev_hash);
        let reason = if event.seq <= self.cut.seq {
            self.retained_seen += 1;
            if event.seq < self.expected_seq {
                Some(format!("seq {} is out of order", event.seq))
            } else if !intact {
                Some("the event's contents do not match its hash".to_owned())
            } else if event.seq == self.expected_seq
                && self
                    .prev_hash
                    .as_ref()
                    .is_some_and(|p| *p != event.prev_hash)
            {
                Some("prev_hash does not match the previous event's hash".to_owned())
            } else {
                None
            }
        } else {
            self.skip_to_cut();
            if event.seq != self.expected_seq {
                Some(format!(
                    "expected seq {}, found {}",
                    self.expected_seq, event.seq
                ))
            } else if self.prev_hash.as_deref() != Some(event.prev_hash.as_str()) {
                Some("prev_hash does not match the previous event's hash".to_owned())
            } else if !intact {
                Some("the event's contents do not match its hash".to_owned())
            } else {
                None
            }
        };
        let reason = reason.or_else(|| self.note_checkpoint(event));
        match reason {
            Some(reason) => {
                // Before the cut gaps are normal, so the event itself is the first bad one.
                let seq = if event.seq <= self.cut.seq {
                    event.seq
                } else {
                    self.expected_seq.min(event.seq)
                };
                self.broken = Some((seq, reason));
            }
            None => {
                self.expected_seq = event.seq + 1;
                self.prev_hash = Some(event.hash.clone());
            }
        }
    }

    /// Remembers an intact `audit.checkpoint` event; one that records no checkpoint is a break.
    fn note_checkpoint(&mut self, event: &AuditEvent) -> Option<String> {
        if event.event.kind != EventKind::AuditCheckpoint.as_str() {
            return None;
        }
        match Checkpoint::of_event(&event.event) {
            Some(checkpoint) => {
                self.newest_checkpoint = Some((event.seq, checkpoint));
                None
            }
            None => Some("an audit.checkpoint event records no checkpoint".to_owned()),
        }
    }

    /// An event lies after the head the check read, and the head read again afterwards is
    /// still before it: the head was moved back, so the events after it would go unchecked.
    pub fn event_beyond_head(&mut self, seq: i64, head_seq: i64) {
        if self.broken.is_none() {
            self.broken = Some((
                seq,
                format!(
                    "an event lies after the recorded head (seq {head_seq}): the head was moved back"
                ),
            ));
        }
    }

    /// Past the kept events before the cut, the chain continues from the checkpoint's hash.
    fn skip_to_cut(&mut self) {
        if self.expected_seq <= self.cut.seq {
            self.expected_seq = self.cut.seq + 1;
            self.prev_hash = Some(self.cut.hash.clone());
        }
    }

    /// `head` is the store's record of the last seq and hash; a chain whose newest events are
    /// missing is broken even though every present event is intact, and so is one that has
    /// events but no head.
    pub fn finish(mut self, head: Option<(i64, &str)>) -> ChainReport {
        let checked = self.checked;
        let broken = |seq: i64, reason: String| ChainReport {
            valid: false,
            events: checked,
            first_bad_seq: Some(seq),
            reason: Some(reason),
        };
        if let Some((seq, reason)) = self.broken.take() {
            return broken(seq, reason);
        }
        if self.retained_seen != self.cut.retained {
            return broken(
                self.cut.seq,
                format!(
                    "{} events kept before the retention checkpoint, {} expected",
                    self.retained_seen, self.cut.retained
                ),
            );
        }
        let newest = self.newest_checkpoint.take();
        if newest.as_ref().map(|(_, c)| c) != self.given.as_ref() {
            let seq = newest.as_ref().map_or(self.cut.seq, |(seq, _)| *seq);
            return broken(
                seq,
                "the retention checkpoint is not the newest audit.checkpoint event of the chain"
                    .to_owned(),
            );
        }
        let Some((head_seq, head_hash)) = head else {
            if let Some(first) = self.first_seq {
                return broken(
                    first,
                    "events are stored but the chain has no recorded head".to_owned(),
                );
            }
            return self.valid();
        };
        self.skip_to_cut();
        if head_seq != self.expected_seq - 1 || self.prev_hash.as_deref() != Some(head_hash) {
            return broken(
                self.expected_seq,
                format!("the chain ends before its recorded head (seq {head_seq})"),
            );
        }
        self.valid()
    }

    fn valid(&self) -> ChainReport {
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
    use proptest::prelude::*;
    use serde_json::Value;
    use std::collections::BTreeMap;

    /// The canonical encoding as docs/audit.md defines it: a map of the fields, sorted.
    fn canonical_by_sorting_a_map(event: &NewEvent, seq: i64, prev_hash: &str) -> String {
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
        serde_json::to_string(&fields).unwrap()
    }

    fn any_text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(any::<String>())
    }

    proptest! {
        #[test]
        fn canonical_is_the_sorted_map_encoding(
            id in any::<String>(), workspace_id in any::<String>(), kind in any::<String>(),
            outcome in any::<String>(), prev_hash in any::<String>(), seq in any::<i64>(),
            millis in 0i64..4_102_444_800_000,
            texts in prop::collection::vec(any_text(), 10),
        ) {
            let event = NewEvent {
                id, workspace_id, kind, outcome,
                time: Utc.timestamp_millis_opt(millis).unwrap(),
                actor_id: texts[0].clone(), actor_name: texts[1].clone(),
                key_id: texts[2].clone(), key_name: texts[3].clone(),
                action: texts[4].clone(), resource: texts[5].clone(),
                ip: texts[6].clone(), origin: texts[7].clone(),
                user_agent: texts[8].clone(), detail: texts[9].clone(),
            };
            prop_assert_eq!(
                AuditEvent::canonical(&event, seq, &prev_hash),
                canonical_by_sorting_a_map(&event, seq, &prev_hash)
            );
        }
    }

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
        verify_from(events, None)
    }

    fn verify_from(events: &[AuditEvent], cut: Option<Checkpoint>) -> ChainReport {
        let mut v = ChainVerifier::new(cut);
        events.iter().for_each(|e| v.push(e));
        let head = events.last().map(|e| (e.seq, e.hash.as_str()));
        v.finish(head)
    }

    #[test]
    fn a_check_resumed_from_a_position_verifies_the_rest_and_finds_breaks_after_it() {
        let events = chain_of(10);
        let mut first = ChainVerifier::new(None);
        events[..6].iter().for_each(|e| first.push(e));
        let at = first.position().unwrap();
        assert_eq!((at.seq, at.hash.as_str()), (6, events[5].hash.as_str()));
        let head = Some((10, events[9].hash.as_str()));
        let mut rest = ChainVerifier::resume(None, at.clone()).unwrap();
        events[6..].iter().for_each(|e| rest.push(e));
        let report = rest.finish(head);
        assert!(report.valid, "{report:?}");
        assert_eq!(report.events, 4);
        let mut edited = events.clone();
        edited[8].event.key_name = Some("someone else".into());
        let mut rest = ChainVerifier::resume(None, at.clone()).unwrap();
        edited[6..].iter().for_each(|e| rest.push(e));
        assert!(rest.position().is_none());
        assert_eq!(rest.finish(head).first_bad_seq, Some(9));
        // A position whose hash is not the event's own does not link to the next event.
        let wrong = ChainPosition {
            hash: events[4].hash.clone(),
            ..at.clone()
        };
        let mut rest = ChainVerifier::resume(None, wrong).unwrap();
        events[6..].iter().for_each(|e| rest.push(e));
        assert_eq!(rest.finish(head).first_bad_seq, Some(7));
        // A position before the retention cut cannot be resumed from.
        let cut = Checkpoint {
            seq: 8,
            hash: events[7].hash.clone(),
            retained: 8,
        };
        assert!(ChainVerifier::resume(Some(cut), at).is_none());
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

    /// Appends the `audit.checkpoint` event of `cut`, as retention does.
    fn append_checkpoint(events: &mut Vec<AuditEvent>, cut: &Checkpoint) {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let last = events.last().unwrap();
        let (seq, prev) = (last.seq, last.hash.clone());
        events.push(AuditEvent::chain(cut.event("ws_1", t), seq, &prev));
    }

    #[test]
    fn a_pruned_prefix_verifies_from_its_checkpoint() {
        let mut events = chain_of(8);
        // Prune seqs 1, 2, 4, 5 (verifications); keep 3 (management) and everything after 5.
        let cut = Checkpoint {
            seq: 5,
            hash: events[4].hash.clone(),
            retained: 1,
        };
        append_checkpoint(&mut events, &cut);
        let kept: Vec<AuditEvent> = events
            .iter()
            .filter(|e| e.seq == 3 || e.seq > 5)
            .cloned()
            .collect();
        assert!(verify_from(&kept, Some(cut.clone())).valid);

        let mut edited = kept.clone();
        edited[0].event.detail = Some("edited".into());
        assert_eq!(
            verify_from(&edited, Some(cut.clone())).first_bad_seq,
            Some(3)
        );

        let without_kept: Vec<AuditEvent> = kept.iter().filter(|e| e.seq != 3).cloned().collect();
        assert!(!verify_from(&without_kept, Some(cut.clone())).valid);

        let mut after_cut_edit = kept.clone();
        after_cut_edit[2].event.outcome = "VALID".into();
        assert_eq!(
            verify_from(&after_cut_edit, Some(cut.clone())).first_bad_seq,
            Some(7)
        );

        // A checkpoint that is not the chain's own newest checkpoint event allows no gap.
        let forged = Checkpoint {
            seq: 6,
            hash: events[5].hash.clone(),
            retained: 1,
        };
        let report = verify_from(&kept, Some(forged));
        assert!(!report.valid, "{report:?}");
        let report = verify_from(&kept, None);
        assert!(!report.valid, "{report:?}");
    }

    #[test]
    fn a_fully_pruned_chain_matches_its_head() {
        let mut events = chain_of(3);
        let cut = Checkpoint {
            seq: 3,
            hash: events[2].hash.clone(),
            retained: 0,
        };
        append_checkpoint(&mut events, &cut);
        let kept = &events[3..];
        assert!(verify_from(kept, Some(cut)).valid);
    }

    #[test]
    fn events_without_a_head_are_broken() {
        let events = chain_of(3);
        let mut v = ChainVerifier::new(None);
        events.iter().for_each(|e| v.push(e));
        let report = v.finish(None);
        assert!(!report.valid);
        assert_eq!(report.first_bad_seq, Some(1));
        assert!(ChainVerifier::new(None).finish(None).valid);
    }

    #[test]
    fn exported_time_matches_the_canonical_time() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let e = AuditEvent::chain(
            NewEvent::new("ws_1", t, EventKind::KeyCreated),
            0,
            GENESIS_HASH,
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["time"], "2026-01-01T00:00:00.000Z");
        assert_eq!(json["kind"], "key.created");
        assert_eq!(json["seq"], 1);
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
