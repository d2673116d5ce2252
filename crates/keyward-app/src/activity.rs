//! Verifications over time, by outcome, for the dashboard's charts: counted from the audit
//! trail's `key.verified` events in one bounded read (at most [`MAX_EVENTS_READ`] events,
//! newest first), so a chart costs the same however busy a key is.

use crate::error::AppResult;
use crate::rights::{Caller, KeysRead};
use crate::service::Keyward;
use chrono::{DateTime, Duration, Utc};
use keyward_core::{AuditFilter, EventKind};
use std::collections::{BTreeMap, HashMap};

/// The most events one chart reads.
pub const MAX_EVENTS_READ: u32 = 5000;

/// Counts of verifications by outcome in consecutive time buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The start of the first bucket.
    pub since: DateTime<Utc>,
    pub bucket: Duration,
    pub buckets: usize,
    /// Per key id: for each bucket, oldest first, the count of each outcome (`VALID`, …).
    pub per_key: HashMap<String, Vec<BTreeMap<String, u64>>>,
    /// The read stopped at [`MAX_EVENTS_READ`]: the oldest buckets may be undercounted.
    pub truncated: bool,
}

impl Activity {
    /// The buckets of `key_id` (all empty if it had no verification).
    pub fn of(&self, key_id: &str) -> Vec<BTreeMap<String, u64>> {
        self.per_key
            .get(key_id)
            .cloned()
            .unwrap_or_else(|| vec![BTreeMap::new(); self.buckets])
    }
}

impl Keyward {
    /// Verifications in the last `buckets` buckets of `bucket` each, of `key_id` or of every
    /// key of the workspace.
    pub async fn verification_activity(
        &self,
        caller: &Caller<'_, KeysRead>,
        key_id: Option<&str>,
        buckets: usize,
        bucket: Duration,
    ) -> AppResult<Activity> {
        let now = self.clock.now();
        let span = bucket * i32::try_from(buckets).unwrap_or(i32::MAX);
        let since = now - span;
        let filter = AuditFilter {
            key_id: key_id.map(str::to_owned),
            kind: Some(EventKind::KeyVerified),
            action: None,
            outcome: None,
            since: Some(since),
            until: None,
            before_seq: None,
            limit: MAX_EVENTS_READ,
        };
        let events = self.store.events(caller.workspace_id(), &filter).await?;
        let truncated = events.len() == MAX_EVENTS_READ as usize;
        let mut per_key: HashMap<String, Vec<BTreeMap<String, u64>>> = HashMap::new();
        let bucket_ms = bucket.num_milliseconds().max(1);
        for e in events {
            let Some(id) = e.event.key_id else { continue };
            let offset = (e.event.time - since).num_milliseconds();
            let Ok(index) = usize::try_from(offset / bucket_ms) else {
                continue;
            };
            if index >= buckets {
                continue;
            }
            let series = per_key
                .entry(id)
                .or_insert_with(|| vec![BTreeMap::new(); buckets]);
            *series[index].entry(e.event.outcome).or_default() += 1;
        }
        Ok(Activity {
            since,
            bucket,
            buckets,
            per_key,
            truncated,
        })
    }
}
