//! Usage facts per key (`last_used_at`, `verification_count`), counted in memory on the verify
//! path and written to storage in the background, so verification never waits on a write for
//! them. The audit trail, not these counters, is the durable record: a crash can lose the last
//! few seconds of counts, never an event.

use chrono::{DateTime, Utc};
use keyward_core::{KeyRecord, KeyUsage, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

const NEVER: i64 = i64::MIN;

struct Cell {
    workspace_id: String,
    verifications: AtomicU64,
    last_used_ms: AtomicI64,
    dirty: AtomicBool,
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
                    last_used_ms: AtomicI64::new(
                        u.last_used_at.map_or(NEVER, |t| t.timestamp_millis()),
                    ),
                    dirty: AtomicBool::new(false),
                };
                cells.insert(u.key_id, Arc::new(cell));
            }
        }
        Ok(tracker)
    }

    /// Counts one verification of `key`; `valid` ones also move `last_used_at`.
    pub fn record(&self, key: &KeyRecord, valid: bool, now: DateTime<Utc>) {
        let cell = self.cell(key);
        cell.verifications.fetch_add(1, Ordering::Relaxed);
        if valid {
            cell.last_used_ms
                .fetch_max(now.timestamp_millis(), Ordering::Relaxed);
        }
        cell.dirty.store(true, Ordering::Release);
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
                    last_used_ms: AtomicI64::new(NEVER),
                    dirty: AtomicBool::new(false),
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

    /// Writes every count that changed since the last flush.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let changed: Vec<KeyUsage> = {
            let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
            cells
                .iter()
                .filter(|(_, cell)| cell.dirty.swap(false, Ordering::AcqRel))
                .map(|(key_id, cell)| {
                    let ms = cell.last_used_ms.load(Ordering::Relaxed);
                    KeyUsage {
                        key_id: key_id.clone(),
                        workspace_id: cell.workspace_id.clone(),
                        last_used_at: (ms != NEVER)
                            .then(|| DateTime::from_timestamp_millis(ms))
                            .flatten(),
                        verifications: cell.verifications.load(Ordering::Relaxed),
                    }
                })
                .collect()
        };
        let count = changed.len();
        if let Err(e) = store.record_usage(changed.clone()).await {
            // Mark them dirty again so the next flush retries.
            let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
            for u in &changed {
                if let Some(cell) = cells.get(&u.key_id) {
                    cell.dirty.store(true, Ordering::Release);
                }
            }
            return Err(e);
        }
        Ok(count)
    }
}
