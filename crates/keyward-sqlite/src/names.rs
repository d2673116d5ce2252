//! Interned audit strings. `audit_events` stores an event's workspace, kind, actor, key and
//! outcome as integer references into `audit_names` (migration 0006): a
//! verification's row and its index entries are then a fraction of the size they were with
//! the text repeated in every row and every index, and SQLite takes events in about twice as
//! fast (`scripts/ingest-row-cost.py`). A name is the text as it was at the event (a key
//! renamed later keeps its old name in its old events), so names are never updated or
//! deleted, only added. Every interned field is bounded by the store's own records
//! (workspaces, keys and their renames, root keys, event kinds and verify codes); the free
//! text a calling service sends (action, resource, client details) stays inline, so that
//! retention deletes it with its events.
//!
//! The ids of names a transaction added are valid only once it commits (a rolled-back id may
//! be given to another name), so [`Names`] learns them from a [`Learned`] after the commit.

use crate::error::store_error;
use crate::sql::statement_runs;
use keyward_core::StoreError;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
// Hashed with foldhash: an ingest looks up each of an event's seven names, tens of thousands
// of lookups a second under load, where SipHash was a measurable share of the ingester's
// time. The names are the store's own records, so the std hasher's flooding resistance buys
// nothing here.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::{Mutex, PoisonError};

/// Names kept in memory at most. Verifications over a thousand keys use a few thousand
/// names; over a million keys the cache cannot hold them all and misses cost a lookup in
/// `audit_names` (in a batch, not a statement each).
const CACHE_CAPACITY: usize = 1 << 18;
/// Longer names are not cached, so the cache stays under ~50 MB whatever the names are
/// (key names may be up to 512 characters; the ids and names of typical keys are under 64
/// bytes).
const MAX_CACHED_BYTES: usize = 128;

/// The ids of names known to be committed.
#[derive(Debug, Default)]
pub(crate) struct Names {
    cache: Mutex<HashMap<Box<str>, i64>>,
}

/// Names a transaction added or looked up, to be learned once it has committed.
#[derive(Debug, Default)]
#[must_use = "learn these once the transaction has committed, or drop them if it failed"]
pub(crate) struct Learned(Vec<(Box<str>, i64)>);

impl Learned {
    pub(crate) fn extend(&mut self, other: Learned) {
        self.0.extend(other.0);
    }
}

impl Names {
    /// Remembers names whose transaction has committed. A full cache is emptied: under
    /// traffic spread over more keys than it holds, which names are kept hardly matters.
    pub(crate) fn learn(&self, learned: Learned) {
        if learned.0.is_empty() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        for (value, id) in learned.0 {
            if value.len() > MAX_CACHED_BYTES {
                continue;
            }
            if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&value) {
                cache.clear();
            }
            cache.insert(value, id);
        }
    }

    /// The id of every distinct value in `values`, adding to `audit_names` those it lacks.
    /// Must run inside the write transaction that uses the ids.
    pub(crate) async fn resolve<'v>(
        &self,
        conn: &mut SqliteConnection,
        values: impl IntoIterator<Item = &'v str>,
    ) -> Result<(HashMap<&'v str, i64>, Learned), StoreError> {
        let mut ids = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            // A batch repeats a few names many times: most values are found in `ids` with one
            // lookup; the cache and the missing list see each distinct value once.
            let mut missing_seen = HashSet::new();
            for value in values {
                if ids.contains_key(value) || missing_seen.contains(value) {
                    continue;
                }
                match cache.get(value) {
                    Some(&id) => {
                        ids.insert(value, id);
                    }
                    None => {
                        missing_seen.insert(value);
                        missing.push(value);
                    }
                }
            }
        }
        let mut learned = Learned::default();
        for some in statement_runs(&missing) {
            for (value, id) in intern(&mut *conn, some).await? {
                learned.0.push((value.into(), id));
                ids.insert(value, id);
            }
        }
        Ok((ids, learned))
    }
}

/// Adds the `values` `audit_names` lacks and returns every one's id. `values` are distinct.
async fn intern<'v>(
    conn: &mut SqliteConnection,
    values: &[&'v str],
) -> Result<Vec<(&'v str, i64)>, StoreError> {
    let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO audit_names (value) ");
    insert.push_values(values, |mut row, value| {
        row.push_bind(*value);
    });
    insert.push(" ON CONFLICT (value) DO NOTHING");
    insert
        .build()
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;

    let mut select =
        QueryBuilder::<Sqlite>::new("SELECT value, id FROM audit_names WHERE value IN (");
    let mut list = select.separated(", ");
    for value in values {
        list.push_bind(*value);
    }
    select.push(")");
    let rows: Vec<(String, i64)> = select
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
    let found: HashMap<String, i64> = rows.into_iter().collect();
    values
        .iter()
        .map(|value| match found.get(*value) {
            Some(&id) => Ok((*value, id)),
            // Never expected: the insert just made sure of it.
            None => Err(StoreError::Corrupt(
                "an audit name was not found after it was added".into(),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(names: &Names) -> usize {
        names.cache.lock().unwrap().len()
    }

    #[test]
    fn the_cache_stays_bounded_in_entries_and_bytes() {
        let names = Names::default();
        let many = (0..CACHE_CAPACITY as i64 + 10)
            .map(|i| (format!("key_{i}").into_boxed_str(), i))
            .collect();
        names.learn(Learned(many));
        assert!(cached(&names) <= CACHE_CAPACITY);
        assert!(cached(&names) > 0);

        let names = Names::default();
        names.learn(Learned(vec![
            ("k".repeat(MAX_CACHED_BYTES + 1).into_boxed_str(), 1),
            ("short".into(), 2),
        ]));
        assert_eq!(cached(&names), 1, "the long name is not cached");
    }
}
