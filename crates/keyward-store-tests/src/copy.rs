//! Chapter 6, copying: a database copied into an empty one of the same engine through
//! `import_records` and `import_events` (`keyward_storage::copy_database`, what
//! `keyward migrate-db` runs) reads back identical — every record, credit balance, usage
//! figure, policy and event, with the same chain head, checkpoint and anchor point — its
//! chains verify and continue; a target that holds data is refused.

use crate::fixtures::{ascending, fresh, new_key, verify_chain, Story};
use crate::restrictions::with_credits;
use crate::Engine;
use anyhow::{ensure, Result};
use chrono::Duration;
use keyward_core::{
    AuditRules, EventKind, Store, UsageIncrement, VerificationAudit, Workspace, WorkspacePolicy,
    WorkspaceSettings,
};
use keyward_storage::{copy_database, read_records, CopyError};

/// Two workspaces with keys (one rotated, one credited and partly spent), a revoked root
/// key, settings, a policy, usage, verifications and a retention checkpoint.
async fn populated(story: &mut Story) -> Result<Vec<Workspace>> {
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    let mut metered = new_key(&acme, "Metered Billing Export", None, story.tick())?;
    metered.restrictions = with_credits(9)?;
    story.insert_key(&metered).await?;
    let store = story.store.clone();
    store
        .spend_credits(&acme.id, &metered.id, 4, story.now)
        .await?;
    let plain = new_key(
        &globex,
        "Payroll Sync Integration",
        Some("user_7"),
        story.tick(),
    )?;
    story.insert_key(&plain).await?;
    story.rotate(&globex, &plain).await?;
    let settings = WorkspaceSettings {
        workspace_id: acme.id.clone(),
        verification_audit: VerificationAudit::Failures,
        audit_rules: AuditRules::parse([("*.read", VerificationAudit::Aggregate)].into_iter())?,
        audit_retention_days: 30,
    };
    let event = story.event(&acme, EventKind::WorkspaceUpdated);
    store.put_workspace_settings(&settings, event).await?;
    let policy = WorkspacePolicy::new(Some(86_400))?;
    let event = story.event(&globex, EventKind::PolicyUpdated);
    store
        .set_workspace_policy(&globex.id, &policy, event)
        .await?;
    store
        .record_usage(vec![UsageIncrement {
            key_id: metered.id.clone(),
            workspace_id: acme.id.clone(),
            last_used_at: Some(story.now),
            verifications_added: 12,
        }])
        .await?;
    let old = story.now;
    let verified: Vec<_> = (0..30)
        .map(|i| {
            story
                .event(&acme, EventKind::KeyVerified)
                .subject(&metered.id, &metered.name)
                .detail(format!("verification {i}"))
        })
        .collect();
    store.append_events(verified).await?;
    story.tick();
    store
        .prune_events(
            &acme.id,
            EventKind::KeyVerified,
            old + Duration::milliseconds(1),
            story.now,
        )
        .await?;
    Ok(vec![acme, globex])
}

pub async fn a_copy_reads_back_identical_and_its_chains_verify_and_continue<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_from_db, from) = fresh(engine).await?;
    let mut story = Story::new(from.clone())?;
    let workspaces = populated(&mut story).await?;
    let (_to_db, to) = fresh(engine).await?;

    let copied = copy_database(from.as_ref(), to.as_ref(), |_| {}).await?;
    ensure!(copied.workspaces == 2 && copied.keys == 3, "{copied:?}");

    ensure!(
        read_records(to.as_ref()).await? == read_records(from.as_ref()).await?,
        "every record reads back as in the original"
    );
    let mut events = 0;
    for ws in &workspaces {
        let original = ascending(from.as_ref(), &ws.id).await?;
        ensure!(
            ascending(to.as_ref(), &ws.id).await? == original,
            "{}",
            ws.name
        );
        events += original.len() as u64;
        ensure!(to.chain_head(&ws.id).await? == from.chain_head(&ws.id).await?);
        ensure!(to.checkpoint(&ws.id).await? == from.checkpoint(&ws.id).await?);
        ensure!(to.anchor_point(&ws.id).await? == from.anchor_point(&ws.id).await?);
        let report = verify_chain(to.as_ref(), &ws.id).await?;
        ensure!(report.valid, "{}: {report:?}", ws.name);
    }
    ensure!(copied.events == events, "{copied:?}");
    ensure!(
        to.checkpoint(&workspaces[0].id).await?.is_some(),
        "the copied chain holds a retention cut"
    );

    // The copy is a working database: its chains continue after the copied heads.
    let (acme, globex) = (&workspaces[0], &workspaces[1]);
    let before = to.chain_head(&acme.id).await?.map_or(0, |h| h.seq);
    to.append_events(vec![story.event(acme, EventKind::KeyVerified)])
        .await?;
    ensure!(to.chain_head(&acme.id).await?.map(|h| h.seq) == Some(before + 1));
    ensure!(verify_chain(to.as_ref(), &acme.id).await?.valid);
    let key = new_key(globex, "Copied Database Key", None, story.tick())?;
    let event = story
        .event(globex, EventKind::KeyCreated)
        .subject(&key.id, &key.name);
    to.insert_key(&key, event).await?;
    ensure!(verify_chain(to.as_ref(), &globex.id).await?.valid);

    // A target holding data is refused before anything is written.
    let again = copy_database(from.as_ref(), to.as_ref(), |_| {}).await;
    ensure!(matches!(again, Err(CopyError::TargetNotEmpty)), "{again:?}");
    Ok(())
}
