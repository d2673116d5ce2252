//! `audit verify` against a signed anchor, in bounded time. The chain's links are answered
//! as without an anchor (`chain_answer.rs`: whole when short, else from the verified prefix,
//! or `pending`); what binds the chain to the anchor is read by index instead of by walking
//! the chain: the anchored event and every event at or before it that retention never
//! deletes, each checked against its own hash, counted and digested as the anchor signed
//! them ([`AnchorBinding`]). An edit of a management event the anchor covers is so found at
//! once, inside the verified prefix too; an edit of a verification inside the prefix is
//! found by the background's whole re-verification, as without an anchor.

use crate::audit_check::{ChainCheck, CheckStatus};
use crate::service::Keyward;
use keyward_core::{AnchorBinding, AnchorPoint, StoreError};

/// Kept events read per storage query.
const KEPT_PAGE: u32 = 10_000;

pub async fn check(
    state: &Keyward,
    workspace_id: &str,
    anchor: AnchorPoint,
) -> Result<ChainCheck, StoreError> {
    let mut check = crate::chain_answer::answer(state, workspace_id, false).await?;
    check.anchor_seq = Some(anchor.seq);
    check.anchor_note = anchor.kept_digest.is_none().then(|| {
        "the anchor has no kept_digest (signed by an older version): the events before it \
         that retention never deletes are bound by their number only, not their contents"
            .to_owned()
    });
    if check.status == CheckStatus::Broken {
        return Ok(check);
    }
    if let Some((seq, reason)) = bind(state, workspace_id, anchor).await? {
        check.valid = false;
        check.status = CheckStatus::Broken;
        check.first_bad_seq = Some(seq);
        check.reason = Some(reason);
        check.verified_seq = None;
        check.unverified_events = 0;
    }
    Ok(check)
}

/// Where the stored chain stops extending `anchor`, and why; `None` while it does.
async fn bind(
    state: &Keyward,
    workspace_id: &str,
    anchor: AnchorPoint,
) -> Result<Option<(i64, String)>, StoreError> {
    let store = state.store.as_ref();
    // Retention may not prune the anchored event between reading it and reading the cut.
    let _maintenance = state.audit_maintenance.read().await;
    let head_seq = store.chain_head(workspace_id).await?.map_or(0, |h| h.seq);
    let cut_seq = store.checkpoint(workspace_id).await?.map_or(0, |c| c.seq);
    let anchored = store
        .events_ascending(workspace_id, anchor.seq.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|e| e.seq == anchor.seq);
    let through = anchor.seq;
    let mut binding = AnchorBinding::new(anchor);
    let mut after = 0;
    loop {
        let page = store
            .kept_events(workspace_id, after, through, KEPT_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        page.iter().for_each(|event| binding.push(event));
        if page.len() < KEPT_PAGE as usize {
            break;
        }
    }
    // A kept anchored event came with the others; a verification comes last, at its seq.
    if let Some(event) = anchored.filter(|e| e.seq > after) {
        binding.push(&event);
    }
    Ok(binding.finish(head_seq, cut_seq))
}
