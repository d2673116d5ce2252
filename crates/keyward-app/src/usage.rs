//! Usage facts per key (`last_used_at`, `verification_count`), counted in memory on the verify
//! path and written to storage in the background, so verification never waits on a write for
//! them. The audit trail, not these counters, is the durable record: a crash can lose the last
//! few seconds of counts, never an event.
//!
//! Several nodes may count the same key, so a flush writes what this node counted since its
//! last successful flush (an increment the store adds), never its own total; a failed flush
//! keeps its increment for the next one. A node shows the total it loaded at start plus what
//! it counted itself; the stored total is the sum over every node.

use chrono::{DateTime, Utc};
use keyward_core::{KeyRecord, Store, StoreError, UsageIncrement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

const NEVER: i64 = i64::MIN;

struct Cell {
    workspace_id: String,
    /// What this node shows: the stored total at load plus every verification it counted.
    verifications: AtomicU64,
    /// Verifications counted and not yet written; taken (swapped to 0) by a flush and given
    /// back if the write fails, so each is written once.
    unwritten: AtomicU64,
    last_used_ms: AtomicI64,
}

#[derive(Default)]
pub struct UsageTracker {
    cells: RwLock<HashMap<String, Arc<Cell>>>,
}

impl UsageTracker {
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let stored = store.key_usage().await?;
        let tracker = Self::default();
        {
            let mut cells = tracker.cells.write().unwrap_or_else(|p| p.into_inner());
            for u in stored {
                let cell = Cell {
                    workspace_id: u.workspace_id,
                    verifications: AtomicU64::new(u.verifications),
                    unwritten: AtomicU64::new(0),
                    last_used_ms: AtomicI64::new(
                        u.last_used_at.map_or(NEVER, |t| t.timestamp_millis()),
                    ),
                };
                cells.insert(u.key_id, Arc::new(cell));
            }
        }
        Ok(tracker)
    }

    /// Counts one verification of `key`; `valid` ones also move `last_used_at`.
    pub fn record(&self, key: &KeyRecord, valid: bool, now: DateTime<Utc>) {
        let cell = self.cell(key);
        if valid {
            cell.last_used_ms
                .fetch_max(now.timestamp_millis(), Ordering::Relaxed);
        }
        cell.verifications.fetch_add(1, Ordering::Relaxed);
        // Release after last_used_ms, so a flush that takes this count also sees that time.
        cell.unwritten.fetch_add(1, Ordering::Release);
    }

    fn cell(&self, key: &KeyRecord) -> Arc<Cell> {
        if let Some(cell) = self
            .cells
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key.id)
        {
            return cell.clone();
        }
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        cells
            .entry(key.id.clone())
            .or_insert_with(|| {
                Arc::new(Cell {
                    workspace_id: key.workspace_id.clone(),
                    verifications: AtomicU64::new(0),
                    unwritten: AtomicU64::new(0),
                    last_used_ms: AtomicI64::new(NEVER),
                })
            })
            .clone()
    }

    /// `(last_used_at, verification_count)` of a key.
    pub fn get(&self, key_id: &str) -> (Option<DateTime<Utc>>, u64) {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        cells.get(key_id).map_or((None, 0), |cell| {
            let ms = cell.last_used_ms.load(Ordering::Relaxed);
            let last = (ms != NEVER)
                .then(|| DateTime::from_timestamp_millis(ms))
                .flatten();
            (last, cell.verifications.load(Ordering::Relaxed))
        })
    }

    /// Writes what was counted since the last successful flush, as increments. On failure
    /// the increments are given back to their cells, so the next flush writes them.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let taken: Vec<UsageIncrement> = {
            let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
            cells
                .iter()
                .filter_map(|(key_id, cell)| {
                    let added = cell.unwritten.swap(0, Ordering::AcqRel);
                    (added > 0).then(|| {
                        let ms = cell.last_used_ms.load(Ordering::Relaxed);
                        UsageIncrement {
                            key_id: key_id.clone(),
                            workspace_id: cell.workspace_id.clone(),
                            last_used_at: (ms != NEVER)
                                .then(|| DateTime::from_timestamp_millis(ms))
                                .flatten(),
                            verifications_added: added,
                        }
                    })
                })
                .collect()
        };
        let count = taken.len();
        if count == 0 {
            return Ok(0);
        }
        if let Err(e) = store.record_usage(taken.clone()).await {
            let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
            for u in &taken {
                if let Some(cell) = cells.get(&u.key_id) {
                    cell.unwritten
                        .fetch_add(u.verifications_added, Ordering::Release);
                }
            }
            return Err(e);
        }
        Ok(count)
    }
}
