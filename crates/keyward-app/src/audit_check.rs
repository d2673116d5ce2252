//! `audit verify`: recomputes a workspace's chain from its checkpoint to its head, makes sure no event lies beyond the head, and replays
//! key and root-key state from the chain to compare it with the stored records. Reads in
//! pages, so memory grows with the workspace's keys (as the index does), not its events.

use crate::service::Keyward;
use keyward_core::audit_replay::StateReplay;
use keyward_core::{ChainPosition, ChainVerifier, KeyFilter, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};

/// Events and keys read per storage query.
const SCAN_PAGE: u32 = 1000;
/// At most this many unexplained records are listed.
const MAX_UNEXPLAINED: usize = 100;

/// What a chain check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// The chain links from its checkpoint to its head, and every stored record is explained.
    pub valid: bool,
    /// Events checked.
    pub events: u64,
    pub first_bad_seq: Option<i64>,
    pub reason: Option<String>,
    /// The retention checkpoint the check started from.
    pub checkpoint_seq: Option<i64>,
    /// The anchor checked against.
    pub anchor_seq: Option<i64>,
    /// A caveat about the anchor (signed by an older version).
    pub anchor_note: Option<String>,
    /// Stored keys and root keys their events do not explain (at most 100).
    pub unexplained: Vec<Unexplained>,
    /// Verified through the head, broken, or still being verified (`chain_answer.rs`).
    pub status: CheckStatus,
    /// The newest event verified intact (the head when verified).
    pub verified_seq: Option<i64>,
    /// The chain's head when answered.
    pub head_seq: Option<i64>,
    /// The check resumed after this seq, the verified prefix (`None`: from the start).
    pub resumed_from_seq: Option<i64>,
    /// Events after `verified_seq` up to the head, not verified yet.
    pub unverified_events: u64,
    /// A whole re-verification running or last finished in the background.
    pub full_check: Option<FullCheckProgress>,
    /// Where the chain was verified intact to, for the next check to resume from.
    pub(crate) verified_to: Option<ChainPosition>,
}

/// Where a chain check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Verified intact through the head.
    Verified,
    /// A break was found (`first_bad_seq`, `reason`).
    Broken,
    /// More events are unverified than one answer checks; the background is on it.
    Pending,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Broken => "broken",
            Self::Pending => "pending",
        }
    }
}

/// A whole re-verification from the start, in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullCheckProgress {
    /// Still running.
    pub running: bool,
    /// Events checked so far (all of them once finished).
    pub checked: u64,
    /// Events it set out to check (up to the head when it started).
    pub total: u64,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its result once finished.
    pub valid: Option<bool>,
}

impl ChainCheck {
    /// Still being verified in the background.
    pub fn is_pending(&self) -> bool {
        self.status == CheckStatus::Pending
    }
}

/// A stored key or root key in a state its events do not explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexplained {
    pub id: String,
    pub reason: String,
}

pub async fn check(state: &Keyward, workspace_id: &str) -> Result<ChainCheck, StoreError> {
    check_counting(state, workspace_id, &AtomicU64::new(0)).await
}

/// [`check`], adding each event checked to `progress` as it goes (a background whole
/// re-verification shows it).
pub async fn check_counting(
    state: &Keyward,
    workspace_id: &str,
    progress: &AtomicU64,
) -> Result<ChainCheck, StoreError> {
    let first = check_once(state, workspace_id, progress).await?;
    if first.unexplained.is_empty() {
        return Ok(first);
    }
    // A key changed while the chain and the records were read one after the other looks
    // unexplained; with management writes held off, what remains is.
    let _writes = state.writes.lock().await;
    progress.store(0, Ordering::Relaxed);
    check_once(state, workspace_id, progress).await
}

async fn check_once(
    state: &Keyward,
    workspace_id: &str,
    progress: &AtomicU64,
) -> Result<ChainCheck, StoreError> {
    let store = state.store.as_ref();
    // Retention may not move the checkpoint while the chain is read.
    let _maintenance = state.audit_maintenance.read().await;
    let checkpoint = store.checkpoint(workspace_id).await?;
    // The head is read before the events: events appended meanwhile lie beyond it and are
    // left for the next check.
    let head = store.chain_head(workspace_id).await?;
    let checkpoint_seq = checkpoint.as_ref().map(|c| c.seq);
    let mut verifier = ChainVerifier::new(checkpoint);
    let mut replay = StateReplay::new();
    let head_seq = head.as_ref().map(|head| head.seq);
    let mut after = 0;
    'pages: loop {
        let page = store
            .events_ascending(workspace_id, after, SCAN_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        progress.fetch_add(page.len() as u64, Ordering::Relaxed);
        for event in &page {
            if head_seq.is_some_and(|head| event.seq > head) {
                break 'pages;
            }
            verifier.push(event);
            replay.push(event);
        }
    }
    if let Some(head_seq) = head_seq {
        // An event beyond the head read first is either appended since (then the head has
        // moved with it, in its transaction) or hidden by a head moved back.
        let beyond = store.events_ascending(workspace_id, head_seq, 1).await?;
        if let Some(event) = beyond.first() {
            let now_head = store.chain_head(workspace_id).await?;
            if now_head.is_none_or(|head| head.seq < event.seq) {
                verifier.event_beyond_head(event.seq, head_seq);
            }
        }
    }
    let position = verifier.position();
    let report = verifier.finish(head.as_ref().map(|head| (head.seq, head.hash.as_str())));
    let unexplained = compare_records(state, workspace_id, replay).await?;
    let valid = report.valid && unexplained.is_empty();
    let reason = report.reason.or_else(|| {
        (!unexplained.is_empty()).then(|| {
            format!(
                "{} stored keys or root keys are in a state their events do not explain",
                unexplained.len()
            )
        })
    });
    Ok(ChainCheck {
        valid,
        status: if valid {
            CheckStatus::Verified
        } else {
            CheckStatus::Broken
        },
        verified_seq: report.valid.then_some(head_seq).flatten(),
        head_seq,
        resumed_from_seq: None,
        unverified_events: 0,
        full_check: None,
        verified_to: position.filter(|_| report.valid),
        events: report.events,
        first_bad_seq: report.first_bad_seq,
        reason,
        checkpoint_seq,
        anchor_seq: None,
        anchor_note: None,
        unexplained: unexplained
            .into_iter()
            .take(MAX_UNEXPLAINED)
            .map(|m| Unexplained {
                id: m.id,
                reason: m.reason,
            })
            .collect(),
    })
}

/// Every stored key and root key of the workspace against the replayed chain.
async fn compare_records(
    state: &Keyward,
    workspace_id: &str,
    mut replay: StateReplay,
) -> Result<Vec<keyward_core::audit_replay::StateMismatch>, StoreError> {
    let store = state.store.as_ref();
    let mut filter = KeyFilter {
        owner_id: None,
        status: None,
        now: state.clock.now(),
        before_id: None,
        limit: SCAN_PAGE,
    };
    loop {
        let page = store.list_keys(workspace_id, &filter).await?;
        page.iter().for_each(|key| replay.check_key(key));
        match page.last() {
            Some(last) if page.len() == SCAN_PAGE as usize => {
                filter.before_id = Some(last.id.clone());
            }
            _ => break,
        }
    }
    for root in store.root_keys().await? {
        if root.workspace_id == workspace_id {
            replay.check_root_key(&root);
        }
    }
    Ok(replay.finish())
}
