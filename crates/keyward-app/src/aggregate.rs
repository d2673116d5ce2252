//! Verifications at the `aggregate` audit level, counted in memory per workspace and minute by
//! actor, key, action, outcome and network (/24 for IPv4, /64 for IPv6), and written every few
//! seconds by the maintenance task (and at a graceful stop) as chained `key.verified` events
//! whose detail is `{"count":…,"minute":"…"}`. The trail stays tamper-evident and every
//! audit query sees them, at a fraction of the bytes of one event per verification.
//!
//! Not durable per request: a hard crash loses what was counted since the last flush, which
//! is why writes and deletes should stay at `all`. Memory is bounded: at most
//! [`MAX_GROUPS_PER_MINUTE`] groups per workspace and minute (beyond them a verification is
//! counted in its minute's "other" group for its outcome, with no key, action or network), and
//! at most [`MAX_PENDING_MINUTES`] unwritten minutes per workspace while storage fails.

use crate::fields::RequestContext;
use crate::rights::Principal;
use chrono::{DateTime, Utc};
use keyward_core::audit::{format_time, EventKind};
use keyward_core::{KeyRecord, NewEvent, VerifyCode};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

/// Distinct groups one workspace keeps for one minute; a group is a few short texts, so this
/// bounds a workspace-minute to a few megabytes whatever the traffic.
pub const MAX_GROUPS_PER_MINUTE: usize = 10_000;

/// Unwritten minutes one workspace keeps while storage fails; older ones are dropped (and
/// the loss logged) rather than growing without bound.
pub const MAX_PENDING_MINUTES: usize = 60;

/// What one aggregate event counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    actor: Option<(String, String)>,
    key: Option<(String, String)>,
    action: Option<String>,
    outcome: VerifyCode,
    network: Option<String>,
}

/// One workspace's minute: its groups and, past the cap, counts by outcome alone.
#[derive(Debug, Default)]
struct Minute {
    groups: HashMap<Group, u64>,
    other: BTreeMap<&'static str, u64>,
}

impl Minute {
    fn add(&mut self, group: Group, count: u64) {
        if let Some(n) = self.groups.get_mut(&group) {
            *n += count;
        } else if self.groups.len() < MAX_GROUPS_PER_MINUTE {
            self.groups.insert(group, count);
        } else {
            *self.other.entry(group.outcome.as_str()).or_default() += count;
        }
    }

    fn merge(&mut self, other: Minute) {
        for (group, count) in other.groups {
            self.add(group, count);
        }
        for (outcome, count) in other.other {
            *self.other.entry(outcome).or_default() += count;
        }
    }

    fn verifications(&self) -> u64 {
        self.groups.values().sum::<u64>() + self.other.values().sum::<u64>()
    }
}

/// Minutes are keyed by workspace and the minute's start (unix seconds), so a workspace's
/// minutes read in time order.
type Minutes = BTreeMap<(String, i64), Minute>;

/// The counts not yet written.
#[derive(Debug, Default)]
pub struct Aggregates {
    minutes: Mutex<Minutes>,
}

/// Minutes taken for writing: their events, and the counts to put back if the write fails.
pub struct Taken {
    minutes: Minutes,
}

impl Taken {
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }

    /// One event per group, stamped `now`.
    pub fn events(&self, now: DateTime<Utc>) -> Vec<NewEvent> {
        let mut events = Vec::new();
        for ((workspace_id, start), minute) in &self.minutes {
            let minute_text = DateTime::from_timestamp(*start, 0)
                .map(format_time)
                .unwrap_or_default();
            for (group, count) in &minute.groups {
                let mut event = NewEvent::new(workspace_id, now, EventKind::KeyVerified);
                if let Some((id, name)) = &group.actor {
                    event = event.actor(id, name);
                }
                if let Some((id, name)) = &group.key {
                    event = event.subject(id, name);
                }
                event.action.clone_from(&group.action);
                event.ip.clone_from(&group.network);
                event.outcome = group.outcome.as_str().to_owned();
                event.detail = Some(format!(r#"{{"count":{count},"minute":"{minute_text}"}}"#));
                events.push(event);
            }
            for (outcome, count) in &minute.other {
                let mut event = NewEvent::new(workspace_id, now, EventKind::KeyVerified);
                event.outcome = (*outcome).to_owned();
                event.detail = Some(format!(
                    r#"{{"count":{count},"minute":"{minute_text}","other":true}}"#
                ));
                events.push(event);
            }
        }
        events
    }
}

impl Aggregates {
    /// Counts one verification of `key` (none: unknown in the workspace) by `principal`.
    pub fn add(
        &self,
        principal: &Principal,
        key: Option<&KeyRecord>,
        code: VerifyCode,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) {
        let group = Group {
            actor: Some((principal.id().to_owned(), principal.name().to_owned())),
            key: key.map(|k| (k.id.clone(), k.name.clone())),
            action: context.action().map(str::to_owned),
            outcome: code,
            network: context.ip.as_deref().and_then(network),
        };
        let start = minute_start(now);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes
            .entry((principal.workspace_id().to_owned(), start))
            .or_default()
            .add(group, 1);
    }

    /// Takes the minutes that ended at or before `now`, or every minute with `everything`
    /// (a graceful stop: a minute written in two parts still adds up).
    pub fn take(&self, now: DateTime<Utc>, everything: bool) -> Taken {
        let current = minute_start(now);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let taken = if everything {
            std::mem::take(&mut *minutes)
        } else {
            let (done, open): (Minutes, Minutes) = std::mem::take(&mut *minutes)
                .into_iter()
                .partition(|((_, start), _)| *start < current);
            *minutes = open;
            done
        };
        Taken { minutes: taken }
    }

    /// Puts back minutes whose write failed, to be written with the next flush; beyond
    /// [`MAX_PENDING_MINUTES`] per workspace the oldest are dropped.
    pub fn restore(&self, taken: Taken) {
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        for (at, minute) in taken.minutes {
            minutes.entry(at).or_default().merge(minute);
        }
        let mut per_workspace: HashMap<String, Vec<i64>> = HashMap::new();
        for (workspace_id, start) in minutes.keys() {
            per_workspace
                .entry(workspace_id.clone())
                .or_default()
                .push(*start);
        }
        for (workspace_id, starts) in per_workspace {
            let excess = starts.len().saturating_sub(MAX_PENDING_MINUTES);
            // Keys are ordered, so a workspace's starts are oldest first.
            for start in &starts[..excess] {
                if let Some(lost) = minutes.remove(&(workspace_id.clone(), *start)) {
                    tracing::error!(
                        workspace_id = %workspace_id,
                        verifications = lost.verifications(),
                        "aggregated verifications of a minute were dropped: storage failed for \
                         longer than the pending bound"
                    );
                }
            }
        }
    }

    /// How many verifications are counted and not yet written.
    pub fn pending(&self) -> u64 {
        let minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes.values().map(Minute::verifications).sum()
    }
}

/// The start of `now`'s minute, in unix seconds.
fn minute_start(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(60) * 60
}

/// The network of a reported client address: its /24 (IPv4) or /64 (IPv6); none for text
/// that is not an address.
fn network(ip: &str) -> Option<String> {
    Some(match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, s).single().unwrap()
    }

    fn group(key: usize, outcome: VerifyCode) -> Group {
        Group {
            actor: Some(("rk_1".into(), "admin".into())),
            key: Some((format!("key_{key}"), format!("Key {key}"))),
            action: Some("invoices.read".into()),
            outcome,
            network: Some("203.0.113.0/24".into()),
        }
    }

    fn add(aggregates: &Aggregates, workspace: &str, now: DateTime<Utc>, g: Group) {
        let mut minutes = aggregates.minutes.lock().unwrap();
        minutes
            .entry((workspace.to_owned(), minute_start(now)))
            .or_default()
            .add(g, 1);
    }

    fn detail_count(event: &NewEvent) -> u64 {
        let detail: serde_json::Value =
            serde_json::from_str(event.detail.as_deref().unwrap()).unwrap();
        detail["count"].as_u64().unwrap()
    }

    #[test]
    fn networks_are_the_24_or_the_64_of_an_address() {
        assert_eq!(network("203.0.113.77").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            network("2001:db8:1:2:3:4:5:6").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(network("not an address"), None);
    }

    #[test]
    fn only_ended_minutes_are_taken_unless_everything_is_asked_for() {
        let aggregates = Aggregates::default();
        for _ in 0..3 {
            add(
                &aggregates,
                "ws_a",
                at(9, 0, 10),
                group(1, VerifyCode::Valid),
            );
        }
        add(
            &aggregates,
            "ws_a",
            at(9, 0, 59),
            group(1, VerifyCode::Revoked),
        );
        add(
            &aggregates,
            "ws_a",
            at(9, 1, 5),
            group(1, VerifyCode::Valid),
        );
        let taken = aggregates.take(at(9, 1, 30), false);
        let mut events = taken.events(at(9, 1, 30));
        events.sort_by_key(|e| e.outcome.clone());
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].outcome, "REVOKED");
        assert_eq!(detail_count(&events[0]), 1);
        assert_eq!(events[1].outcome, "VALID");
        assert_eq!(
            events[1].detail.as_deref(),
            Some(r#"{"count":3,"minute":"2026-01-01T09:00:00.000Z"}"#)
        );
        assert_eq!(events[1].key_id.as_deref(), Some("key_1"));
        assert_eq!(events[1].ip.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(events[1].kind, "key.verified");
        assert_eq!(aggregates.pending(), 1, "the open minute stays");
        let rest = aggregates.take(at(9, 1, 30), true);
        assert_eq!(rest.events(at(9, 1, 30)).len(), 1);
        assert_eq!(aggregates.pending(), 0);
    }

    #[test]
    fn a_minute_keeps_at_most_the_group_cap_and_counts_the_rest_by_outcome() {
        let aggregates = Aggregates::default();
        let now = at(9, 0, 0);
        for key in 0..MAX_GROUPS_PER_MINUTE + 7 {
            add(&aggregates, "ws_a", now, group(key, VerifyCode::Valid));
        }
        for key in 0..3 {
            add(
                &aggregates,
                "ws_a",
                now,
                group(MAX_GROUPS_PER_MINUTE + key, VerifyCode::NotFound),
            );
        }
        // A group that already exists still counts in its own group.
        add(&aggregates, "ws_a", now, group(0, VerifyCode::Valid));
        let events = aggregates.take(at(9, 1, 0), false).events(at(9, 1, 0));
        assert_eq!(events.len(), MAX_GROUPS_PER_MINUTE + 2);
        let other: Vec<_> = events
            .iter()
            .filter(|e| e.detail.as_deref().unwrap().contains(r#""other":true"#))
            .collect();
        assert_eq!(other.len(), 2);
        for e in &other {
            assert_eq!((e.key_id.as_ref(), e.action.as_ref()), (None, None));
            let expected = if e.outcome == "VALID" { 7 } else { 3 };
            assert_eq!(detail_count(e), expected, "{}", e.outcome);
        }
        let total: u64 = events.iter().map(detail_count).sum();
        assert_eq!(total, (MAX_GROUPS_PER_MINUTE + 7 + 3 + 1) as u64);
    }

    #[test]
    fn a_failed_write_is_put_back_and_pending_minutes_are_bounded() {
        let aggregates = Aggregates::default();
        add(
            &aggregates,
            "ws_a",
            at(9, 0, 0),
            group(1, VerifyCode::Valid),
        );
        let taken = aggregates.take(at(9, 1, 0), false);
        add(
            &aggregates,
            "ws_a",
            at(9, 0, 30),
            group(1, VerifyCode::Valid),
        );
        aggregates.restore(taken);
        let events = aggregates.take(at(9, 1, 0), false).events(at(9, 1, 0));
        assert_eq!(events.len(), 1);
        assert_eq!(detail_count(&events[0]), 2, "merged, not duplicated");

        let start = at(9, 0, 0);
        for m in 0..(MAX_PENDING_MINUTES as i64 + 5) {
            add(
                &aggregates,
                "ws_a",
                start + chrono::Duration::minutes(m),
                group(1, VerifyCode::Valid),
            );
        }
        aggregates.restore(Taken {
            minutes: Minutes::new(),
        });
        assert_eq!(aggregates.pending(), MAX_PENDING_MINUTES as u64);
        let kept = aggregates.take(at(23, 0, 0), true).minutes;
        assert_eq!(
            kept.keys().next().map(|(_, s)| *s),
            Some(minute_start(start + chrono::Duration::minutes(5))),
            "the oldest were dropped"
        );
    }
}
