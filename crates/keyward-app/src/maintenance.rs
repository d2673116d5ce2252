//! Background work of a running server: writing usage counters and aggregated verifications
//! every few seconds, pruning old verification events, old changes and ended dashboard
//! sessions and handover links every hour, signing audit chain heads that moved, verifying
//! audit chains forward from their verified prefix (`chain_verifier.rs`), and the safety
//! advice (folding verification's
//! sightings in every second, writing them every 30 s, one bounded sweep page every 5 s).

use crate::service::Keyward;
use crate::{follow, retention};
use std::time::Duration;

pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// How often aggregated verifications of ended minutes are written (`aggregate.rs`): what a
/// hard crash can lose of them is at most this, plus the minute still open.
pub const AGGREGATE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);
pub const ADVICE_DRAIN_INTERVAL: Duration = Duration::from_secs(1);
pub const ADVICE_WRITE_INTERVAL: Duration = Duration::from_secs(30);
pub const ADVICE_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Runs until the process ends.
pub fn spawn(state: Keyward) {
    if let Some(anchorer) = state.anchors.clone() {
        let anchor_state = state.clone();
        tokio::spawn(async move {
            // The first tick is at once: a restarted server anchors where it starts from.
            let mut tick = tokio::time::interval(anchorer.interval);
            loop {
                tick.tick().await;
                let (store, clock) = (anchor_state.store.as_ref(), anchor_state.clock.as_ref());
                if let Err(e) = anchorer.sign_moved(store, clock).await {
                    tracing::warn!(error = %e, "signing audit anchors failed; will retry");
                }
            }
        });
    }
    spawn_advice(state.clone());
    crate::chain_verifier::spawn(state.clone());
    let usage_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(USAGE_FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            flush_usage(&usage_state).await;
        }
    });
    let aggregate_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(AGGREGATE_FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            flush_aggregates(&aggregate_state, false).await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_INTERVAL);
        loop {
            tick.tick().await;
            match retention::prune_once(&state).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned verification events past retention"),
                Err(e) => tracing::warn!(error = %e, "pruning audit events failed; will retry"),
            }
            prune_changes(&state).await;
            prune_dashboard(&state).await;
        }
    });
}

/// The safety advice's background work (`advice.rs`).
fn spawn_advice(state: Keyward) {
    let sweep_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ADVICE_DRAIN_INTERVAL);
        let mut last_write = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let due = state.drain_advice_sightings();
            if due || last_write.elapsed() >= ADVICE_WRITE_INTERVAL {
                last_write = tokio::time::Instant::now();
                if let Err(e) = state.flush_advice_observations().await {
                    tracing::warn!(error = %e, "writing advice observations failed; will retry");
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ADVICE_SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = sweep_state.sweep_advice().await {
                tracing::warn!(error = %e, "refreshing safety advice failed; will retry");
            }
        }
    });
}

/// Deletes changes older than [`follow::CHANGE_RETENTION`] from the change log (a node
/// further behind refills its index).
async fn prune_changes(state: &Keyward) {
    let retention = chrono::Duration::from_std(follow::CHANGE_RETENTION).unwrap_or_default();
    match state.store.prune_changes(state.now() - retention).await {
        Ok(0) => {}
        Ok(deleted) => tracing::debug!(deleted, "pruned the change log"),
        Err(e) => tracing::warn!(error = %e, "pruning the change log failed; will retry"),
    }
}

/// Deletes dashboard sessions and handover links past their end (they are refused from
/// that moment anyway; this only reclaims the rows).
pub async fn prune_dashboard(state: &Keyward) {
    match state.store.prune_dashboard(state.now()).await {
        Ok(0) => {}
        Ok(deleted) => tracing::debug!(deleted, "pruned ended dashboard sessions and links"),
        Err(e) => tracing::warn!(error = %e, "pruning dashboard sessions failed; will retry"),
    }
}

/// Writes aggregated verifications: those of ended minutes periodically, every one
/// (`everything`) once at shutdown.
pub async fn flush_aggregates(state: &Keyward, everything: bool) {
    match state.flush_aggregates(everything).await {
        Ok(0) => {}
        Ok(written) => tracing::debug!(written, "wrote aggregated verifications"),
        Err(e) => tracing::warn!(error = %e, "writing aggregated verifications failed; will retry"),
    }
}

/// Writes usage counters that changed; called periodically and once at shutdown.
pub async fn flush_usage(state: &Keyward) {
    if let Err(e) = state.usage.flush(state.store.as_ref()).await {
        tracing::warn!(error = %e, "writing usage counters failed; will retry");
    }
}
