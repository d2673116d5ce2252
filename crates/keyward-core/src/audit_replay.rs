//! Replays key and root-key state from a workspace's audit chain and compares it with the
//! stored records, so an edit of the records alone (`UPDATE keys SET revoked_at = NULL`) is
//! found even though the chain itself is intact.
//!
//! Only what events carry can be replayed: that a key or root key was created, its name,
//! that it was revoked (revoked, leaked, or rotated without a grace period) and, for a
//! rotated key, when it stops working. Permissions, expiry changes, `enabled` and metadata
//! are not in the events, so they cannot be checked this way (docs/audit.md says so).

use crate::audit::{AuditEvent, EventKind};
use crate::model::{KeyRecord, RootKey};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A stored record the chain does not explain, or an event's record that storage lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMismatch {
    /// The key's or root key's id.
    pub id: String,
    pub reason: String,
}

/// What the chain says about one key.
#[derive(Debug, Default)]
struct KeyFacts {
    created: bool,
    /// Its name as the newest management event about it recorded it.
    name: Option<String>,
    /// The seq of the event that revoked it.
    revoked: Option<i64>,
    /// A rotation replaced it: it must stop working by this time (`None`: unreadable).
    rotated: Option<Option<DateTime<Utc>>>,
    /// Met among the stored records.
    seen: bool,
}

#[derive(Debug, Default)]
struct RootFacts {
    created: bool,
    /// How its `root_key.created` event named it: the detail, or the actor (the workspace's
    /// first root key records its own creation as its actor).
    created_detail: Option<String>,
    created_actor: Option<(Option<String>, Option<String>)>,
    revoked: Option<i64>,
    seen: bool,
}

/// Feed it a workspace's events in chain order, then every stored key and root key of the
/// workspace; [`StateReplay::finish`] adds the records the chain has and storage lost. Holds
/// a few facts per key, as the in-memory verification index does.
#[derive(Debug, Default)]
pub struct StateReplay {
    keys: HashMap<String, KeyFacts>,
    root_keys: HashMap<String, RootFacts>,
    mismatches: Vec<StateMismatch>,
}

impl StateReplay {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, event: &AuditEvent) {
        let e = &event.event;
        let Some(kind) = EventKind::parse(&e.kind) else {
            return;
        };
        match kind {
            // A leaked root key is revoked with a `key.leaked` event whose subject is the
            // root key and whose detail starts "root key" (handlers/leaks.rs).
            EventKind::KeyLeaked
                if e.detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("root key ")) =>
            {
                let Some(id) = e.key_id.as_deref() else {
                    return;
                };
                let facts = self.root_keys.entry(id.to_owned()).or_default();
                facts.revoked.get_or_insert(event.seq);
            }
            EventKind::KeyCreated
            | EventKind::KeyImported
            | EventKind::KeyUpdated
            | EventKind::KeyRevoked
            | EventKind::KeyLeaked
            | EventKind::KeyRotated => {
                let Some(id) = e.key_id.as_deref() else {
                    return;
                };
                let facts = self.keys.entry(id.to_owned()).or_default();
                facts.name.clone_from(&e.key_name);
                match kind {
                    EventKind::KeyCreated | EventKind::KeyImported => facts.created = true,
                    // A replaced key's expiry may be changed after its rotation; the event
                    // does not carry the new value, so the rotation's end no longer binds.
                    EventKind::KeyUpdated
                        if e.detail
                            .as_deref()
                            .is_some_and(|d| d.contains("expires_at")) =>
                    {
                        if let Some(end) = &mut facts.rotated {
                            *end = None;
                        }
                    }
                    EventKind::KeyRevoked | EventKind::KeyLeaked => {
                        facts.revoked.get_or_insert(event.seq);
                    }
                    EventKind::KeyRotated => {
                        let detail = e.detail.as_deref().unwrap_or_default();
                        facts.rotated = Some(rotation_end(detail));
                        if let Some(new_id) = word_after(detail, "replaced by ") {
                            let new = self.keys.entry(new_id.to_owned()).or_default();
                            new.created = true;
                            new.name.clone_from(&e.key_name);
                        }
                    }
                    _ => {}
                }
            }
            EventKind::RootKeyCreated | EventKind::RootKeyRevoked => {
                // The root key is named in the detail ("root key rk_… (name)"); the workspace's
                // first root key records its own creation as its actor.
                let detail = e.detail.as_deref().unwrap_or_default();
                let Some(id) = word_after(detail, "root key ").or(e.actor_id.as_deref()) else {
                    return;
                };
                let facts = self.root_keys.entry(id.to_owned()).or_default();
                if kind == EventKind::RootKeyCreated {
                    facts.created = true;
                    facts.created_detail.clone_from(&e.detail);
                    facts.created_actor = Some((e.actor_id.clone(), e.actor_name.clone()));
                } else {
                    facts.revoked.get_or_insert(event.seq);
                }
            }
            _ => {}
        }
    }

    /// Compares one stored key with what the chain says about it.
    pub fn check_key(&mut self, key: &KeyRecord) {
        let facts = self.keys.entry(key.id.clone()).or_default();
        facts.seen = true;
        let reason = if !facts.created {
            Some("no key.created or key.rotated event records this key".to_owned())
        } else if facts.name.as_deref() != Some(key.name.as_str()) {
            Some("its stored name is not the one its newest event recorded".to_owned())
        } else if let (Some(seq), None) = (facts.revoked, key.revoked_at) {
            Some(format!(
                "the event at seq {seq} revoked it, but storage holds it unrevoked"
            ))
        } else if key.revoked_at.is_some() && facts.revoked.is_none() && facts.rotated.is_none() {
            Some("storage holds it revoked, but no event revoked it".to_owned())
        } else if key.replaced_by.is_some() && facts.rotated.is_none() {
            Some("storage holds it replaced, but no key.rotated event replaced it".to_owned())
        } else if let Some(Some(end)) = facts.rotated {
            let stops = key.revoked_at.is_some_and(|at| at <= end)
                || key.expires_at.is_some_and(|at| at <= end);
            (!stops).then(|| {
                format!(
                    "its key.rotated event ended it at {}, but storage lets it work longer",
                    crate::audit::format_time(end)
                )
            })
        } else {
            None
        };
        self.report(&key.id, reason);
    }

    /// Compares one stored root key with what the chain says about it.
    pub fn check_root_key(&mut self, root: &RootKey) {
        let facts = self.root_keys.entry(root.id.clone()).or_default();
        facts.seen = true;
        let reason = if !facts.created {
            Some("no root_key.created event records this root key".to_owned())
        } else if !created_as_stored(facts, root) {
            Some(
                "its stored name (or, made by operator recovery, its rights) is not what its \
                 root_key.created event recorded"
                    .to_owned(),
            )
        } else if let (Some(seq), None) = (facts.revoked, root.revoked_at) {
            Some(format!(
                "the event at seq {seq} revoked it, but storage holds it unrevoked"
            ))
        } else if root.revoked_at.is_some() && facts.revoked.is_none() {
            Some("storage holds it revoked, but no event revoked it".to_owned())
        } else {
            None
        };
        self.report(&root.id, reason);
    }

    fn report(&mut self, id: &str, reason: Option<String>) {
        if let Some(reason) = reason {
            self.mismatches.push(StateMismatch {
                id: id.to_owned(),
                reason,
            });
        }
    }

    /// Every mismatch, with the keys and root keys the chain created that storage no
    /// longer holds.
    pub fn finish(mut self) -> Vec<StateMismatch> {
        let mut lost: Vec<StateMismatch> = self
            .keys
            .iter()
            .filter(|(_, f)| f.created && !f.seen)
            .map(|(id, _)| (id, "a key"))
            .chain(
                self.root_keys
                    .iter()
                    .filter(|(_, f)| f.created && !f.seen)
                    .map(|(id, _)| (id, "a root key")),
            )
            .map(|(id, what)| StateMismatch {
                id: id.clone(),
                reason: format!("the chain created {what} that storage no longer holds"),
            })
            .collect();
        lost.sort_by(|a, b| a.id.cmp(&b.id));
        self.mismatches.append(&mut lost);
        self.mismatches
    }
}

/// Whether a root key's `root_key.created` event records it as stored. A root key's name
/// never changes. Each way of creating one writes its event in one exact form: the API
/// "root key <id> (<name>)"; operator recovery "root key <id> (<name>) with rights <rights,
/// comma separated>, created by operator recovery …"; the workspace's first root key no
/// detail, itself as the actor.
fn created_as_stored(facts: &RootFacts, root: &RootKey) -> bool {
    let named = format!("root key {} ({})", root.id, root.name);
    match facts.created_detail.as_deref() {
        Some(detail) if detail == named => true,
        Some(detail) => {
            let Some(rest) = detail.strip_prefix(&format!("{named} with rights ")) else {
                return false;
            };
            let Some((rights, _)) = rest.split_once(", created by operator recovery") else {
                return false;
            };
            let mut recorded: Vec<&str> = rights.split(", ").collect();
            let mut stored: Vec<&str> = root.permissions.iter().map(|p| p.as_str()).collect();
            recorded.sort_unstable();
            stored.sort_unstable();
            recorded == stored
        }
        None => facts.created_actor == Some((Some(root.id.clone()), Some(root.name.clone()))),
    }
}

/// The word after `marker` in `text` (up to whitespace, `;`, `,` or `(`).
fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let word = rest
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '('))
        .next()?;
    (!word.is_empty()).then_some(word)
}

/// The end of a rotation's grace period, from "… works until <RFC 3339>".
fn rotation_end(detail: &str) -> Option<DateTime<Utc>> {
    let at = word_after(detail, "until ")?;
    DateTime::parse_from_rfc3339(at.trim_end_matches('.'))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{NewEvent, GENESIS_HASH};
    use crate::hashing::KeyHash;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_225_600 + seconds, 0).unwrap()
    }

    fn event(seq: i64, kind: EventKind, key: &str, detail: Option<&str>) -> AuditEvent {
        let mut e = NewEvent::new("ws_1", at(seq), kind).subject(key, "Stripe sync");
        e.detail = detail.map(str::to_owned);
        AuditEvent::chain(e, seq - 1, GENESIS_HASH)
    }

    fn key(id: &str) -> KeyRecord {
        KeyRecord {
            imported: false,
            id: id.into(),
            workspace_id: "ws_1".into(),
            name: "Stripe sync".into(),
            description: None,
            owner_id: None,
            hash: KeyHash::of(id),
            start: "bos_1234".into(),
            permissions: Vec::new(),
            enabled: true,
            expires_at: None,
            metadata: Default::default(),
            created_at: at(0),
            updated_at: at(0),
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: Default::default(),
        }
    }

    fn mismatches(events: &[AuditEvent], keys: &[KeyRecord]) -> Vec<StateMismatch> {
        let mut replay = StateReplay::new();
        events.iter().for_each(|e| replay.push(e));
        keys.iter().for_each(|k| replay.check_key(k));
        replay.finish()
    }

    #[test]
    fn stored_state_is_held_to_the_events() {
        let created = event(1, EventKind::KeyCreated, "key_a", None);
        let revoked = event(2, EventKind::KeyRevoked, "key_a", Some("left"));
        let mut live = key("key_a");
        assert!(mismatches(std::slice::from_ref(&created), std::slice::from_ref(&live)).is_empty());
        // Made live again, revoked with no event, unknown, lost.
        assert_eq!(
            mismatches(&[created.clone(), revoked.clone()], &[live.clone()]).len(),
            1
        );
        live.revoked_at = Some(at(2));
        assert!(mismatches(&[created.clone(), revoked], &[live.clone()]).is_empty());
        assert_eq!(
            mismatches(std::slice::from_ref(&created), std::slice::from_ref(&live)).len(),
            1
        );
        assert_eq!(mismatches(&[], &[key("key_b")]).len(), 1);
        assert_eq!(mismatches(&[created], &[]).len(), 1);
    }

    #[test]
    fn a_rotation_creates_the_new_key_and_ends_the_old_one() {
        let end = crate::audit::format_time(at(100));
        let detail = format!("replaced by key_b; the old key works until {end}");
        let events = [
            event(1, EventKind::KeyCreated, "key_a", None),
            event(2, EventKind::KeyRotated, "key_a", Some(&detail)),
        ];
        let mut old = key("key_a");
        old.replaced_by = Some("key_b".into());
        old.expires_at = Some(at(100));
        assert!(mismatches(&events, &[old.clone(), key("key_b")]).is_empty());
        old.expires_at = None;
        assert_eq!(mismatches(&events, &[old.clone(), key("key_b")]).len(), 1);
        // A later change of its expiry is the workspace's to make.
        let mut later = events.to_vec();
        later.push(event(
            3,
            EventKind::KeyUpdated,
            "key_a",
            Some("changed: expires_at"),
        ));
        assert!(mismatches(&later, &[old, key("key_b")]).is_empty());
    }

    #[test]
    fn a_leaked_root_key_is_a_root_key_revocation() {
        let mut created = event(
            1,
            EventKind::RootKeyCreated,
            "rk_1",
            Some("root key rk_1 (ops)"),
        );
        created.event.key_id = None;
        let leaked = event(
            2,
            EventKind::KeyLeaked,
            "rk_1",
            Some("root key found in deploy.env (deploy share sweep)"),
        );
        let mut root = RootKey {
            id: "rk_1".into(),
            workspace_id: "ws_1".into(),
            name: "ops".into(),
            hash: KeyHash::of("rk_1"),
            start: "kw_root_1234".into(),
            permissions: Vec::new(),
            created_at: at(0),
            revoked_at: Some(at(2)),
        };
        let check = |events: &[AuditEvent], root: &RootKey| {
            let mut replay = StateReplay::new();
            events.iter().for_each(|e| replay.push(e));
            replay.check_root_key(root);
            replay.finish()
        };
        assert!(check(&[created.clone(), leaked.clone()], &root).is_empty());
        root.revoked_at = None;
        assert_eq!(check(&[created, leaked], &root).len(), 1);
    }

    #[test]
    fn a_root_keys_name_and_recovered_rights_are_held_to_its_creation() {
        let root = |name: &str, rights: &[&str]| RootKey {
            id: "rk_1".into(),
            workspace_id: "ws_1".into(),
            name: name.into(),
            hash: KeyHash::of("rk_1"),
            start: "kw_root_1234".into(),
            permissions: rights
                .iter()
                .map(|r| crate::permission::Permission::parse(r).unwrap())
                .collect(),
            created_at: at(0),
            revoked_at: None,
        };
        let check = |created: AuditEvent, root: &RootKey| {
            let mut replay = StateReplay::new();
            replay.push(&created);
            replay.check_root_key(root);
            replay.finish().len()
        };
        let by_api = |detail: &str| {
            let mut e = event(1, EventKind::RootKeyCreated, "x", Some(detail));
            e.event.key_id = None;
            e.event.key_name = None;
            e
        };
        let api = by_api("root key rk_1 (Deploy (eu))");
        assert_eq!(check(api.clone(), &root("Deploy (eu)", &["keys:read"])), 0);
        assert_eq!(check(api, &root("Deploy", &["keys:read"])), 1);
        let recovered = by_api(
            "root key rk_1 (ops) with rights keys:read, audit:read, created by operator \
             recovery (keyward root-key create, with direct access to the database)",
        );
        let ops = root("ops", &["audit:read", "keys:read"]);
        assert_eq!(check(recovered.clone(), &ops), 0);
        assert_eq!(check(recovered.clone(), &root("ops", &["*"])), 1);
        assert_eq!(
            check(recovered, &root("Ops", &["audit:read", "keys:read"])),
            1
        );
        let mut first = by_api("x");
        first.event.detail = None;
        first.event.actor_id = Some("rk_1".into());
        first.event.actor_name = Some("Initial root key".into());
        assert_eq!(check(first.clone(), &root("Initial root key", &["*"])), 0);
        assert_eq!(check(first, &root("Renamed", &["*"])), 1);
    }

    #[test]
    fn details_are_read_for_ids_and_times() {
        let rotated = "replaced by key_01ab; the old key works until 2026-01-01T00:00:00.000Z";
        assert_eq!(word_after(rotated, "replaced by "), Some("key_01ab"));
        assert_eq!(
            rotation_end(rotated)
                .map(crate::audit::format_time)
                .as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(word_after("root key rk_9 (ops)", "root key "), Some("rk_9"));
        assert_eq!(word_after("nothing here", "root key "), None);
        assert_eq!(rotation_end("replaced by key_1"), None);
    }
}
