//! Following the change log, so that a node's index learns of what other nodes on the same
//! database wrote (`keyward_core::changes`).
//!
//! [`Keyward::follow_changes`] starts two tasks:
//! - the **follower** reads the log from the sequence read just before the index was
//!   loaded and, for each change, re-reads the object from the store and replaces its index
//!   entries (a key, with its rotation links; every root key and workspace, which are few).
//!   A key created elsewhere is then found at once (no negative entry outlives its change).
//!   It runs a round at every push announcement and at least every [`POLL_INTERVAL`]; a
//!   round reads until the log's end. A node that finds the change after its position
//!   pruned fell behind the log ([`CHANGE_RETENTION`]) and refills its whole index.
//! - the **listener** (when the engine has a [`ChangeFeed`]) holds a subscription and wakes
//!   the follower on each announcement; a lost subscription is opened again with backoff
//!   (100 ms doubling to 5 s). Announcements only make the follower faster; polling is what
//!   makes it complete, since a push channel such as `NOTIFY` has no replay.
//!
//! **Freshness (fail closed).** A round that reached the log's end confirms the index as of
//! the moment the round started. Verification answers only while the last confirmation is
//! at most [`FRESHNESS_BOUND`] old; after that (the database or the feed unreachable, or a
//! round that hangs) every verification answers `503` and `/readyz` says why, until a round
//! succeeds again. So a node never answers `VALID` from state more than that bound behind
//! the database. Changes are applied under the write lock, so a change this node makes and
//! the follower's re-read of an older one cannot overtake each other in the index.

use crate::index::KeyIndex;
use crate::service::Keyward;
use keyward_core::{Change, ChangeFeed, ChangedObject, Store, StoreError};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How old the last confirmed catch-up may be while the node still answers verifications.
pub const FRESHNESS_BOUND: Duration = Duration::from_secs(1);
/// The longest time between two rounds (a round also runs at every announcement).
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// A round that takes longer is abandoned and counted as failed (the next one retries).
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long changes are kept in the log; a node further behind refills its index.
pub const CHANGE_RETENTION: Duration = Duration::from_secs(3600);
/// Changes read per query.
const PAGE: u32 = 512;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// When the index was last confirmed complete, read on every verification.
#[derive(Debug)]
pub struct Freshness {
    epoch: Instant,
    /// Milliseconds from `epoch` to the start of the last round that reached the log's end.
    confirmed_ms: AtomicU64,
    bound: Duration,
}

impl Freshness {
    /// Confirmed as of `loaded`: the index was read after the log's position was.
    pub(crate) fn new(loaded: Instant, bound: Duration) -> Self {
        let freshness = Self {
            epoch: loaded,
            confirmed_ms: AtomicU64::new(0),
            bound,
        };
        freshness.confirm(loaded);
        freshness
    }

    fn confirm(&self, started: Instant) {
        let ms = started.saturating_duration_since(self.epoch).as_millis();
        self.confirmed_ms
            .fetch_max(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How long ago the index was last confirmed complete.
    pub fn age(&self) -> Duration {
        let now = self.epoch.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.confirmed_ms.load(Ordering::Relaxed),
        ))
    }

    /// Whether the index may answer: confirmed within the bound.
    pub fn is_fresh(&self) -> bool {
        self.age() <= self.bound
    }
}

/// The running follower (and listener); dropping it stops both.
pub struct Following {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Following {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Keyward {
    /// Follows the store's change log from where the index was loaded, woken by `feed`'s
    /// announcements when there is one, and from now on answers verifications only while
    /// fresh (see the module docs). Call once, before the state is shared.
    pub fn follow_changes(self, feed: Option<Arc<dyn ChangeFeed>>) -> (Self, Following) {
        let freshness = Arc::new(Freshness::new(self.loaded_at, FRESHNESS_BOUND));
        let app = self.with_freshness(freshness.clone());
        let wake = Arc::new(Notify::new());
        let mut tasks = vec![tokio::spawn(follow(app.clone(), freshness, wake.clone()))];
        if let Some(feed) = feed {
            tasks.push(tokio::spawn(listen(feed, wake)));
        }
        (app, Following { tasks })
    }
}

/// The follower's loop: a round at every announcement and every [`POLL_INTERVAL`].
async fn follow(app: Keyward, freshness: Arc<Freshness>, wake: Arc<Notify>) {
    let mut seq = app.loaded_seq;
    let mut failing = false;
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let started = Instant::now();
        match tokio::time::timeout(ROUND_TIMEOUT, catch_up(&app, &mut seq)).await {
            Ok(Ok(())) => {
                freshness.confirm(started);
                if failing {
                    failing = false;
                    tracing::info!(seq, "the change feed caught up again");
                }
            }
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "reading the change log failed; verification answers 503 once the index is {} ms behind", FRESHNESS_BOUND.as_millis());
            }
            Err(_) if !failing => {
                failing = true;
                tracing::warn!("reading the change log timed out; verification answers 503 once the index is {} ms behind", FRESHNESS_BOUND.as_millis());
            }
            _ => {}
        }
    }
}

/// Reads and applies every change after `seq`, up to the log's end.
async fn catch_up(app: &Keyward, seq: &mut i64) -> Result<(), StoreError> {
    loop {
        let page = app.store.changes_since(*seq, PAGE).await?;
        let Some(first) = page.first() else {
            return Ok(());
        };
        if first.seq != *seq + 1 {
            tracing::warn!(
                from = *seq,
                "this node fell behind the change log; reloading the whole index"
            );
            *seq = refill(app).await?;
            continue;
        }
        apply(app, &page).await?;
        *seq = page.last().map_or(*seq, |c| c.seq);
        if page.len() < PAGE as usize {
            return Ok(());
        }
    }
}

/// Re-reads every object `changes` name and replaces its entries in the index, under the
/// write lock. Workspaces and root keys, few, are re-read whole first (so a key found in the
/// index never has older workspace settings than the log had when it changed); then keys
/// in log order (a rotated key before its replacement), each once.
async fn apply(app: &Keyward, changes: &[Change]) -> Result<(), StoreError> {
    let _writes = app.writes.lock().await;
    apply_to(&app.index, app.store.as_ref(), changes).await
}

/// [`apply`] to `index`, for a caller that holds the write lock or owns the index alone (a
/// snapshot brought up to date, `snapshot.rs`).
pub(crate) async fn apply_to(
    index: &KeyIndex,
    store: &dyn Store,
    changes: &[Change],
) -> Result<(), StoreError> {
    let changed = |kind| changes.iter().any(|c| c.object == kind);
    if changed(ChangedObject::Workspace) {
        index.reload_workspaces(store).await?;
    }
    if changed(ChangedObject::RootKey) {
        index.reload_root_keys(store).await?;
    }
    let mut seen = HashSet::new();
    for change in changes.iter().filter(|c| c.object == ChangedObject::Key) {
        if !seen.insert((&change.workspace_id, &change.id)) {
            continue;
        }
        // Keys are never deleted; a missing one was never committed here.
        if let Some(key) = store.key(&change.workspace_id, &change.id).await? {
            index.put_key(key);
        }
    }
    Ok(())
}

/// Refills the whole index; returns the log position it is complete as of.
async fn refill(app: &Keyward) -> Result<i64, StoreError> {
    let _writes = app.writes.lock().await;
    let seq = app.store.last_change_seq().await?;
    app.index.refill(app.store.as_ref()).await?;
    Ok(seq)
}

/// The listener's loop: subscribe, wake the follower on every announcement (and once on
/// subscribing, for what was committed while it had none), resubscribe with backoff.
async fn listen(feed: Arc<dyn ChangeFeed>, wake: Arc<Notify>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match feed.subscribe().await {
            Ok(mut subscription) => {
                backoff = FIRST_BACKOFF;
                wake.notify_one();
                loop {
                    match subscription.next().await {
                        Ok(_) => wake.notify_one(),
                        Err(e) => {
                            tracing::warn!(error = %e, "the change feed's subscription was lost; subscribing again");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "subscribing to the change feed failed");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_lasts_its_bound_from_the_last_confirmation() {
        let bound = Duration::from_secs(10);
        let Some(loaded) = Instant::now().checked_sub(Duration::from_secs(20)) else {
            return; // a clock that started less than 20 s ago cannot go back that far
        };
        let freshness = Freshness::new(loaded, bound);
        assert!(
            !freshness.is_fresh(),
            "loaded 20 s ago and never confirmed since"
        );
        freshness.confirm(Instant::now());
        assert!(freshness.is_fresh(), "confirmed now");
        // A round that started before the last confirmation never moves it back.
        freshness.confirm(loaded);
        assert!(freshness.is_fresh());
    }
}
