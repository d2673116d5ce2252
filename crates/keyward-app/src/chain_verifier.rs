//! Incremental chain verification: each workspace's chain is checked forward from its signed
//! verified prefix (`keyward_core::verified_prefix`) in chunks, and the prefix is moved and
//! stored after each chunk, so the work is resumable across restarts and `audit verify` only
//! has the tail to check (`chain_answer.rs`). A periodic whole re-verification from the start
//! guards the verified prefix itself against tampering inside it; its position is kept in
//! memory only.
//!
//! A stored prefix is trusted only if this server's key signed it for this workspace and the
//! chain still holds the event at its `seq` with its `hash`; otherwise checking starts over
//! from the beginning. A break clears the prefix.

use crate::audit_check::{self, ChainCheck, CheckStatus, FullCheckProgress};
use crate::service::Keyward;
use keyward_core::anchor::AnchorSigningKey;
use keyward_core::{ChainReport, ChainVerifier, StoreError, VerifiedPrefix};
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Events one background step verifies before it stores the prefix it reached.
pub const CHUNK: u64 = 1_000_000;
/// How often the background looks for new events to verify.
pub const PASS_INTERVAL: Duration = Duration::from_secs(10);
/// How often the whole chain is verified again from the start.
pub const FULL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Events read per storage query.
const PAGE: u32 = 1000;

/// The verifier's state: the key that signs prefixes and what each workspace's checks have
/// reached, for the answer and the metrics.
pub struct ChainProgress {
    pub(crate) key: Arc<AnchorSigningKey>,
    workspaces: Mutex<HashMap<String, WorkspaceProgress>>,
    /// One writer of prefixes at a time, so a prefix stored by a pass that started before a
    /// break was found cannot replace the clearing of that break.
    pub(crate) advancing: tokio::sync::Mutex<()>,
    unverified: Gauge,
    /// Events one answer checks at most (`chain_answer::ANSWER_BOUND` unless configured).
    pub(crate) answer_bound: u64,
    /// Events one background step verifies ([`CHUNK`] unless configured).
    pub(crate) chunk: u64,
}

/// What is known of one workspace's chain.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceProgress {
    pub verified_seq: i64,
    pub head_seq: i64,
    /// The last break found (by any pass), until a pass verifies the chain again.
    pub broken: Option<ChainCheck>,
    /// The running or last whole re-verification.
    pub full: Option<FullCheckProgress>,
    /// A pass that catches up in the background is under way.
    pub catching_up: bool,
}

impl ChainProgress {
    /// Signs prefixes with `key` (the anchor key; an in-memory database gets a key of its
    /// own process) and shows the unverified events as `keyward_audit_unverified_events`.
    pub fn new(key: Arc<AnchorSigningKey>, metrics: &crate::metrics::Metrics) -> Self {
        Self {
            key,
            workspaces: Mutex::new(HashMap::new()),
            advancing: tokio::sync::Mutex::new(()),
            unverified: metrics.register_gauge(
                "audit_unverified_events",
                "Audit events after the verified prefix of their chain, not verified yet",
            ),
            answer_bound: crate::chain_answer::ANSWER_BOUND,
            chunk: CHUNK,
        }
    }

    /// The same, signing with `key` instead (the anchor key, once the server has one).
    pub(crate) fn rekeyed(&self, key: Arc<AnchorSigningKey>) -> Self {
        Self {
            key,
            workspaces: Mutex::new(HashMap::new()),
            advancing: tokio::sync::Mutex::new(()),
            unverified: self.unverified.clone(),
            answer_bound: self.answer_bound,
            chunk: self.chunk,
        }
    }

    /// The same, with other bounds (tests and benchmarks use small ones).
    pub(crate) fn bounded(&self, answer_bound: u64, chunk: u64) -> Self {
        Self {
            answer_bound,
            chunk: chunk.max(1),
            ..self.rekeyed(self.key.clone())
        }
    }

    /// What is known of `workspace_id`'s chain.
    pub fn of(&self, workspace_id: &str) -> WorkspaceProgress {
        self.lock().get(workspace_id).cloned().unwrap_or_default()
    }

    pub(crate) fn update(&self, workspace_id: &str, change: impl FnOnce(&mut WorkspaceProgress)) {
        let mut all = self.lock();
        change(all.entry(workspace_id.to_owned()).or_default());
        let unverified: i64 = all
            .values()
            .map(|p| (p.head_seq - p.verified_seq).max(0))
            .sum();
        self.unverified.set(unverified);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WorkspaceProgress>> {
        self.workspaces.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The workspace's stored prefix if it can be trusted (see the module docs).
pub(crate) async fn trusted_prefix(
    state: &Keyward,
    workspace_id: &str,
) -> Result<Option<VerifiedPrefix>, StoreError> {
    let store = state.store.as_ref();
    let Some(prefix) = store.verified_prefix(workspace_id).await? else {
        return Ok(None);
    };
    if !prefix.is_signed_by(&state.chain.key.public_key(), workspace_id) {
        tracing::warn!(
            workspace_id,
            "the stored verified prefix is not signed by this server's key; verifying the \
             audit chain from the start"
        );
        return Ok(None);
    }
    let at = store
        .events_ascending(workspace_id, prefix.seq - 1, 1)
        .await?;
    match at.first() {
        Some(event) if event.seq == prefix.seq && event.hash == prefix.hash => {}
        Some(event) if event.seq == prefix.seq => {
            tracing::warn!(
                workspace_id,
                seq = prefix.seq,
                "the event of the verified prefix was changed; verifying the audit chain from \
                 the start"
            );
            return Ok(None);
        }
        // Retention may delete the prefix's own event when it is a verification.
        _ => {
            tracing::info!(
                workspace_id,
                seq = prefix.seq,
                "the event of the verified prefix is gone; verifying the audit chain from the \
                 start"
            );
            return Ok(None);
        }
    }
    Ok(Some(prefix))
}

/// Where one step of verification ended.
#[derive(Debug)]
pub(crate) enum Step {
    /// The head was reached (or a break found): the whole remaining chain is judged.
    Done { report: ChainReport, head_seq: i64 },
    /// `limit` events were verified intact; more lie before the head.
    Partial { verified_seq: i64, head_seq: i64 },
}

/// Verifies at most about `limit` events forward from the trusted prefix (whole pages, so a
/// few hundred more), storing the prefix reached, or clearing it on a break.
pub(crate) async fn advance(
    state: &Keyward,
    workspace_id: &str,
    limit: u64,
) -> Result<Step, StoreError> {
    let _writer = state.chain.advancing.lock().await;
    advance_locked(state, workspace_id, limit).await
}

/// [`advance`] for a caller that holds `advancing`.
pub(crate) async fn advance_locked(
    state: &Keyward,
    workspace_id: &str,
    limit: u64,
) -> Result<Step, StoreError> {
    let store = state.store.as_ref();
    // Retention may not move the checkpoint while the chain is read.
    let _maintenance = state.audit_maintenance.read().await;
    let checkpoint = store.checkpoint(workspace_id).await?;
    // The head is read before the events: later ones are left for the next step.
    let head = store.chain_head(workspace_id).await?;
    let head_seq = head.as_ref().map_or(0, |h| h.seq);
    let resumed = trusted_prefix(state, workspace_id)
        .await?
        .and_then(|prefix| {
            ChainVerifier::resume(checkpoint.clone(), prefix.position()).map(|v| (v, prefix.seq))
        });
    let (mut verifier, from_seq) =
        resumed.unwrap_or_else(|| (ChainVerifier::new(checkpoint.clone()), 0));
    let mut after = from_seq;
    let mut checked = 0u64;
    let reached_head = loop {
        if checked >= limit {
            break false;
        }
        let page = store.events_ascending(workspace_id, after, PAGE).await?;
        let Some(last) = page.last() else {
            break true;
        };
        after = last.seq;
        let mut beyond = false;
        for event in page.iter() {
            if event.seq > head_seq {
                beyond = true;
                break;
            }
            verifier.push(event);
            checked += 1;
        }
        if beyond || verifier.is_broken() {
            break true;
        }
    };
    let position = verifier.position();
    if !reached_head {
        if let Some(position) = position.filter(|p| p.seq > from_seq) {
            let prefix =
                VerifiedPrefix::sign(&state.chain.key, workspace_id, &position, state.clock.now());
            store.put_verified_prefix(&prefix).await?;
            return Ok(Step::Partial {
                verified_seq: position.seq,
                head_seq,
            });
        }
        // Still before the retention cut: nothing to store yet.
        return Ok(Step::Partial {
            verified_seq: from_seq,
            head_seq,
        });
    }
    if head.is_some() && !verifier.is_broken() {
        // An event beyond the head read first is either appended since (then the head has
        // moved with it, in its transaction) or hidden by a head moved back.
        let beyond = store.events_ascending(workspace_id, head_seq, 1).await?;
        if let Some(event) = beyond.first() {
            let now_head = store.chain_head(workspace_id).await?;
            if now_head.is_none_or(|h| h.seq < event.seq) {
                verifier.event_beyond_head(event.seq, head_seq);
            }
        }
    }
    let report = verifier.finish(head.as_ref().map(|h| (h.seq, h.hash.as_str())));
    if report.valid {
        if let Some(position) = position.filter(|p| p.seq > from_seq && p.seq > 0) {
            let prefix =
                VerifiedPrefix::sign(&state.chain.key, workspace_id, &position, state.clock.now());
            store.put_verified_prefix(&prefix).await?;
        }
    } else {
        store.clear_verified_prefix(workspace_id).await?;
    }
    Ok(Step::Done { report, head_seq })
}

/// Records what a step found in the workspace's progress.
pub(crate) fn note(state: &Keyward, workspace_id: &str, step: &Step) {
    state.chain.update(workspace_id, |p| match step {
        Step::Partial {
            verified_seq,
            head_seq,
        } => {
            p.verified_seq = *verified_seq;
            p.head_seq = p.head_seq.max(*head_seq);
        }
        Step::Done {
            report, head_seq, ..
        } if report.valid => {
            p.verified_seq = *head_seq;
            p.head_seq = *head_seq;
            p.broken = None;
        }
        Step::Done {
            report, head_seq, ..
        } => {
            p.head_seq = *head_seq;
            p.verified_seq = 0;
            p.broken = Some(broken_check(report, *head_seq));
        }
    });
}

/// The answer for a break a step found.
pub(crate) fn broken_check(report: &ChainReport, head_seq: i64) -> ChainCheck {
    ChainCheck {
        valid: false,
        events: report.events,
        first_bad_seq: report.first_bad_seq,
        reason: report.reason.clone(),
        checkpoint_seq: None,
        anchor_seq: None,
        anchor_note: None,
        unexplained: Vec::new(),
        status: CheckStatus::Broken,
        verified_seq: None,
        head_seq: Some(head_seq),
        resumed_from_seq: None,
        unverified_events: 0,
        full_check: None,
        verified_to: None,
    }
}

/// Verifies `workspace_id` forward to its head in chunks of [`CHUNK`], storing the prefix
/// after each.
pub async fn catch_up(state: &Keyward, workspace_id: &str) -> Result<(), StoreError> {
    loop {
        let step = advance(state, workspace_id, state.chain.chunk).await?;
        note(state, workspace_id, &step);
        if matches!(step, Step::Done { .. }) {
            return Ok(());
        }
    }
}

/// [`catch_up`] in a task of its own, unless one is under way for the workspace.
pub fn spawn_catch_up(state: &Keyward, workspace_id: &str) {
    let mut started = false;
    state.chain.update(workspace_id, |p| {
        started = !p.catching_up;
        p.catching_up = true;
    });
    if !started {
        return;
    }
    let (state, workspace_id) = (state.clone(), workspace_id.to_owned());
    tokio::spawn(async move {
        if let Err(e) = catch_up(&state, &workspace_id).await {
            tracing::warn!(error = %e, workspace_id, "verifying the audit chain failed; will retry");
        }
        state.chain.update(&workspace_id, |p| p.catching_up = false);
    });
}

/// Verifies the whole chain again from the start (and the stored records against it),
/// showing its progress; a break clears the prefix, an intact chain stores it at the head.
pub async fn full_check(state: &Keyward, workspace_id: &str) -> Result<ChainCheck, StoreError> {
    let head = state.store.chain_head(workspace_id).await?;
    let total = head.map_or(0, |h| u64::try_from(h.seq).unwrap_or(0));
    let started_at = state.clock.now();
    let progress = Arc::new(AtomicU64::new(0));
    let shown = |checked: u64, finished: Option<bool>| FullCheckProgress {
        running: finished.is_none(),
        checked,
        total,
        started_at,
        finished_at: finished.map(|_| state.clock.now()),
        valid: finished,
    };
    state
        .chain
        .update(workspace_id, |p| p.full = Some(shown(0, None)));
    let watcher = {
        let (state, workspace_id, progress) =
            (state.clone(), workspace_id.to_owned(), progress.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let checked = progress.load(Ordering::Relaxed);
                state.chain.update(&workspace_id, |p| {
                    if let Some(full) = p.full.as_mut().filter(|f| f.running) {
                        full.checked = checked;
                    }
                });
            }
        })
    };
    let result = audit_check::check_counting(state, workspace_id, &progress).await;
    watcher.abort();
    let check = match result {
        Ok(check) => check,
        Err(e) => {
            state.chain.update(workspace_id, |p| p.full = None);
            return Err(e);
        }
    };
    {
        let _writer = state.chain.advancing.lock().await;
        match (&check.verified_to, check.status) {
            (Some(position), _) if position.seq > 0 && check.first_bad_seq.is_none() => {
                let prefix = VerifiedPrefix::sign(
                    &state.chain.key,
                    workspace_id,
                    position,
                    state.clock.now(),
                );
                state.store.put_verified_prefix(&prefix).await?;
            }
            (_, CheckStatus::Verified) => {}
            _ => state.store.clear_verified_prefix(workspace_id).await?,
        }
    }
    let checked = progress.load(Ordering::Relaxed);
    state.chain.update(workspace_id, |p| {
        p.full = Some(shown(checked, Some(check.valid)));
        if check.valid {
            p.broken = None;
            if let Some(seq) = check.head_seq {
                p.verified_seq = p.verified_seq.max(seq);
                p.head_seq = p.head_seq.max(seq);
            }
        } else {
            p.verified_seq = 0;
            p.broken = Some(check.clone());
        }
    });
    Ok(check)
}

/// [`full_check`] in a task of its own, unless one is running for the workspace.
pub fn spawn_full_check(state: &Keyward, workspace_id: &str) {
    if state.chain.of(workspace_id).full.is_some_and(|f| f.running) {
        return;
    }
    // Marked running before the task starts, so a second request does not start another.
    let now = state.clock.now();
    state.chain.update(workspace_id, |p| {
        p.full = Some(FullCheckProgress {
            running: true,
            checked: 0,
            total: u64::try_from(p.head_seq).unwrap_or(0),
            started_at: now,
            finished_at: None,
            valid: None,
        })
    });
    let (state, workspace_id) = (state.clone(), workspace_id.to_owned());
    tokio::spawn(async move {
        if let Err(e) = full_check(&state, &workspace_id).await {
            state.chain.update(&workspace_id, |p| p.full = None);
            tracing::warn!(error = %e, workspace_id, "re-verifying the audit chain failed");
        }
    });
}

/// The background work: every [`PASS_INTERVAL`] each workspace's chain is verified forward
/// to its head; every [`FULL_INTERVAL`] each is verified again from the start.
pub fn spawn(state: Keyward) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PASS_INTERVAL);
        let mut last_full = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let workspaces = match state.store.workspaces().await {
                Ok(workspaces) => workspaces,
                Err(e) => {
                    tracing::warn!(error = %e, "listing workspaces to verify failed; will retry");
                    continue;
                }
            };
            let full_due = last_full.elapsed() >= FULL_INTERVAL;
            for workspace in &workspaces {
                if let Err(e) = catch_up(&state, &workspace.id).await {
                    tracing::warn!(error = %e, workspace_id = workspace.id, "verifying the audit chain failed; will retry");
                }
                if full_due {
                    if let Err(e) = full_check(&state, &workspace.id).await {
                        tracing::warn!(error = %e, workspace_id = workspace.id, "re-verifying the audit chain failed");
                    }
                }
            }
            if full_due {
                last_full = tokio::time::Instant::now();
            }
        }
    });
}
