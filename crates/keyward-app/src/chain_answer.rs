//! The answer of `audit verify` in bounded time: a chain of at most [`ANSWER_BOUND`] events is
//! checked whole, as it always was (chain and stored records); a longer one from its signed
//! verified prefix (the stored records then against the chain by the background's whole
//! re-verification) (`chain_verifier.rs`), checking the tail now when it is at most
//! [`ANSWER_BOUND`] events, else answering `pending` with the progress of the background,
//! which it sets going. A break found by any check is answered until a later check verifies
//! the chain again. `full` asks for a whole re-verification in the background.

use crate::audit_check::{self, ChainCheck, CheckStatus};
use crate::chain_verifier::{self, Step};
use crate::service::Keyward;
use keyward_core::StoreError;
use std::time::Duration;

/// Events one answer checks at most.
pub const ANSWER_BOUND: u64 = 300_000;
/// How long an answer waits for a background step that is storing a prefix.
const WRITER_WAIT: Duration = Duration::from_secs(5);

pub async fn answer(
    state: &Keyward,
    workspace_id: &str,
    full: bool,
) -> Result<ChainCheck, StoreError> {
    if full {
        chain_verifier::spawn_full_check(state, workspace_id);
    }
    let mut check = check_now(state, workspace_id).await?;
    check.full_check = state.chain.of(workspace_id).full;
    Ok(check)
}

/// The break found last, while no trusted prefix says the chain was verified since.
async fn known_break(
    state: &Keyward,
    workspace_id: &str,
) -> Result<Option<ChainCheck>, StoreError> {
    let Some(broken) = state.chain.of(workspace_id).broken else {
        return Ok(None);
    };
    if chain_verifier::trusted_prefix(state, workspace_id)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    Ok(Some(broken))
}

async fn check_now(state: &Keyward, workspace_id: &str) -> Result<ChainCheck, StoreError> {
    let Ok(_writer) = tokio::time::timeout(WRITER_WAIT, state.chain.advancing.lock()).await else {
        return pending(state, workspace_id).await;
    };
    let head_seq = state
        .store
        .chain_head(workspace_id)
        .await?
        .map_or(0, |h| h.seq);
    if u64::try_from(head_seq).unwrap_or(0) <= state.chain.answer_bound {
        // A short chain is checked whole, records and all, and its prefix stored.
        let check = audit_check::check(state, workspace_id).await?;
        let verified = check
            .verified_to
            .as_ref()
            .filter(|p| check.valid && p.seq > 0);
        if let Some(position) = verified {
            let prefix = keyward_core::VerifiedPrefix::sign(
                &state.chain.key,
                workspace_id,
                position,
                state.clock.now(),
            );
            state.store.put_verified_prefix(&prefix).await?;
        }
        let verified_seq = verified.map_or(0, |p| p.seq);
        state.chain.update(workspace_id, |p| {
            p.verified_seq = verified_seq;
            p.head_seq = head_seq;
        });
        return Ok(check);
    }
    if let Some(broken) = known_break(state, workspace_id).await? {
        return Ok(broken);
    }
    let from_seq = chain_verifier::trusted_prefix(state, workspace_id)
        .await?
        .map_or(0, |p| p.seq);
    let tail = u64::try_from(head_seq - from_seq).unwrap_or(0);
    if tail > state.chain.answer_bound {
        drop(_writer);
        return pending(state, workspace_id).await;
    }
    let step =
        chain_verifier::advance_locked(state, workspace_id, state.chain.answer_bound + 1).await?;
    chain_verifier::note(state, workspace_id, &step);
    let checkpoint_seq = state.store.checkpoint(workspace_id).await?.map(|c| c.seq);
    Ok(match step {
        Step::Done {
            report, head_seq, ..
        } if report.valid => ChainCheck {
            valid: true,
            events: report.events,
            first_bad_seq: None,
            reason: None,
            checkpoint_seq,
            anchor_seq: None,
            anchor_note: None,
            unexplained: Vec::new(),
            status: CheckStatus::Verified,
            verified_seq: Some(head_seq),
            head_seq: Some(head_seq),
            resumed_from_seq: Some(from_seq),
            unverified_events: 0,
            full_check: None,
            verified_to: None,
        },
        Step::Done {
            report, head_seq, ..
        } => ChainCheck {
            checkpoint_seq,
            ..chain_verifier::broken_check(&report, head_seq)
        },
        Step::Partial { .. } => {
            drop(_writer);
            pending(state, workspace_id).await?
        }
    })
}

/// More is unverified than one answer checks: the background catches up, the answer says
/// how far it is.
async fn pending(state: &Keyward, workspace_id: &str) -> Result<ChainCheck, StoreError> {
    chain_verifier::spawn_catch_up(state, workspace_id);
    let head_seq = state
        .store
        .chain_head(workspace_id)
        .await?
        .map_or(0, |h| h.seq);
    let stored = chain_verifier::trusted_prefix(state, workspace_id)
        .await?
        .map_or(0, |p| p.seq);
    let verified_seq = state
        .chain
        .of(workspace_id)
        .verified_seq
        .max(stored)
        .min(head_seq);
    let unverified = u64::try_from(head_seq - verified_seq).unwrap_or(0);
    Ok(ChainCheck {
        valid: false,
        events: 0,
        first_bad_seq: None,
        reason: Some(format!(
            "verification pending: the chain is verified through seq {verified_seq} of \
             {head_seq}; {unverified} events are being verified in the background"
        )),
        checkpoint_seq: state.store.checkpoint(workspace_id).await?.map(|c| c.seq),
        anchor_seq: None,
        anchor_note: None,
        unexplained: Vec::new(),
        status: CheckStatus::Pending,
        verified_seq: Some(verified_seq),
        head_seq: Some(head_seq),
        resumed_from_seq: None,
        unverified_events: unverified,
        full_check: None,
        verified_to: None,
    })
}
