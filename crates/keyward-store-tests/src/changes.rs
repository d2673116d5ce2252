//! Chapter 6, the change log (`keyward_core::changes`): every write that changes a key, a
//! root key or a workspace records exactly one change per object it changed, in its own
//! transaction; writes that change nothing verification reads, and failed writes, record
//! none; sequence numbers are gap-free in commit order, also under concurrent writers and
//! across a reopen; pruning keeps the newest change, so a reader can tell it fell behind.

use crate::fixtures::{fresh, new_key, new_root_key, permissions, reopen, Story};
use crate::restrictions::with_credits;
use crate::Engine;
use anyhow::Result;
use chrono::Duration;
use keyward_core::{
    AuditRules, Change, ChangedObject, EventKind, Store, StoreError, UsageIncrement,
    VerificationAudit, WorkspacePolicy, WorkspaceSettings,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The changes recorded after `after`, as (object, id), checking their sequence numbers run
/// on from `after` without a gap and end at `last_change_seq`.
async fn recorded_after(store: &dyn Store, after: i64) -> Result<Vec<(ChangedObject, String)>> {
    let changes = store.changes_since(after, 1000).await?;
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let expected: Vec<i64> = (after + 1..=after + changes.len() as i64).collect();
    assert_eq!(seqs, expected, "sequence numbers run on without a gap");
    assert_eq!(store.last_change_seq().await?, after + changes.len() as i64);
    Ok(changes.into_iter().map(|c| (c.object, c.id)).collect())
}

pub async fn every_write_records_one_change_per_object_it_changed<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    assert_eq!(store.last_change_seq().await?, 0, "an empty log");
    let mut story = Story::new(store.clone())?;
    let (acme, root) = story.create_workspace("acme").await?;
    let ws = || (ChangedObject::Workspace, acme.id.clone());
    assert_eq!(
        recorded_after(store.as_ref(), 0).await?,
        [ws(), (ChangedObject::RootKey, root.id.clone())]
    );
    for change in store.changes_since(0, 10).await? {
        assert_eq!(change.workspace_id, acme.id);
    }
    let mut at = store.last_change_seq().await?;
    let mut step = |expected: Vec<(ChangedObject, String)>| {
        let after = at;
        at += expected.len() as i64;
        (after, expected)
    };

    let now = story.tick();
    let mut deputy = new_root_key(&acme, "deputy", permissions(&["keys:read"])?, now);
    store
        .insert_root_key(&deputy, story.event(&acme, EventKind::RootKeyCreated))
        .await?;
    deputy.revoked_at = Some(story.tick());
    store
        .update_root_key(&deputy, story.event(&acme, EventKind::RootKeyRevoked))
        .await?;
    let (after, expected) = step(vec![
        (ChangedObject::RootKey, deputy.id.clone()),
        (ChangedObject::RootKey, deputy.id.clone()),
    ]);
    assert_eq!(recorded_after(store.as_ref(), after).await?, expected);

    let mut key = story.add_key(&acme, "Invoice Sender", None).await?;
    key.enabled = false;
    story.update_key(&key, EventKind::KeyUpdated).await?;
    key.restrictions = with_credits(5)?;
    store
        .update_key_and_credits(&key, story.key_event(&key, EventKind::KeyUpdated))
        .await?;
    let (old, new) = story.rotate(&acme, &key).await?;
    let (after, expected) = step(vec![
        (ChangedObject::Key, key.id.clone()),
        (ChangedObject::Key, key.id.clone()),
        (ChangedObject::Key, key.id.clone()),
        // The rotated key before its replacement.
        (ChangedObject::Key, old.id.clone()),
        (ChangedObject::Key, new.id.clone()),
    ]);
    assert_eq!(recorded_after(store.as_ref(), after).await?, expected);

    let settings = WorkspaceSettings {
        workspace_id: acme.id.clone(),
        verification_audit: VerificationAudit::Failures,
        audit_rules: AuditRules::default(),
        audit_retention_days: 30,
    };
    store
        .put_workspace_settings(&settings, story.event(&acme, EventKind::WorkspaceUpdated))
        .await?;
    let policy = WorkspacePolicy::new(Some(86_400))?;
    store
        .set_workspace_policy(
            &acme.id,
            &policy,
            story.event(&acme, EventKind::PolicyUpdated),
        )
        .await?;
    let (after, expected) = step(vec![ws(), ws()]);
    assert_eq!(recorded_after(store.as_ref(), after).await?, expected);
    Ok(())
}

pub async fn writes_verification_does_not_read_record_no_change<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let mut key = new_key(&acme, "Metered Partner Feed", None, story.tick())?;
    key.restrictions = with_credits(10)?;
    story.insert_key(&key).await?;
    let before = store.last_change_seq().await?;

    // A verification's event, its credit spend and its usage are not changes: the spend is
    // atomic in the database, and the others are not in any node's index.
    let verified = story.key_event(&key, EventKind::KeyVerified);
    store.append_events(vec![verified]).await?;
    let now = story.tick();
    let spent = store.spend_credits(&acme.id, &key.id, 3, now).await?;
    assert!(spent.is_some(), "the key has credits");
    store
        .record_usage(vec![UsageIncrement {
            key_id: key.id.clone(),
            workspace_id: acme.id.clone(),
            last_used_at: Some(now),
            verifications_added: 1,
        }])
        .await?;
    store
        .prune_events(&acme.id, EventKind::KeyVerified, now, now)
        .await?;
    assert_eq!(store.last_change_seq().await?, before);
    assert!(store.changes_since(before, 10).await?.is_empty());
    Ok(())
}

pub async fn a_failed_write_records_no_change_and_leaves_no_gap<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let taken = story.add_key(&acme, "Invoice Sender", None).await?;
    let before = store.last_change_seq().await?;

    let clash = new_key(&acme, "invoice sender", None, story.tick())?;
    let result = story.try_insert_key(&clash).await;
    assert!(matches!(result, Err(StoreError::NameTaken)), "{result:?}");
    let unknown = new_key(&acme, "Never Inserted", None, story.tick())?;
    let result = story.try_update_key(&unknown).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    let again = store.create_workspace(
        &acme,
        &acme_root,
        vec![story.event(&acme, EventKind::WorkspaceCreated)],
    );
    assert!(again.await.is_err(), "a workspace id is unique");
    let mut renamed = story.add_key(&acme, "Payroll Export", None).await?;
    renamed.name = taken.name.clone();
    let result = story.try_update_key(&renamed).await;
    assert!(matches!(result, Err(StoreError::NameTaken)), "{result:?}");

    // Only the one key that was added; the next change follows it without a gap.
    assert_eq!(
        recorded_after(store.as_ref(), before).await?,
        [(ChangedObject::Key, renamed.id.clone())]
    );
    let fine = story.add_key(&acme, "Warehouse Sync", None).await?;
    assert_eq!(
        recorded_after(store.as_ref(), before + 1).await?,
        [(ChangedObject::Key, fine.id)]
    );
    Ok(())
}

pub async fn concurrent_writers_get_gap_free_numbers_in_commit_order<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let before = store.last_change_seq().await?;
    let now = story.tick();
    let mut writers = Vec::new();
    let mut ids = BTreeSet::new();
    for n in 0..24 {
        let key = new_key(&acme, &format!("Concurrent Writer {n}"), None, now)?;
        ids.insert(key.id.clone());
        let event = story.key_event(&key, EventKind::KeyCreated);
        let store: Arc<dyn Store> = store.clone();
        writers.push(tokio::spawn(
            async move { store.insert_key(&key, event).await },
        ));
    }
    // A reader polling while they commit never sees a number before a smaller one: each
    // page it reads continues where the last ended.
    let reader = {
        let store: Arc<dyn Store> = store.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Change> = Vec::new();
            let mut at = before;
            while seen.len() < 24 {
                for change in store.changes_since(at, 5).await? {
                    assert_eq!(
                        change.seq,
                        at + 1,
                        "no change becomes visible before one below it"
                    );
                    at = change.seq;
                    seen.push(change);
                }
                tokio::task::yield_now().await;
            }
            anyhow::Ok(seen)
        })
    };
    for writer in writers {
        writer.await??;
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(30), reader).await???;
    let seen: BTreeSet<String> = seen.into_iter().map(|c| c.id).collect();
    assert_eq!(seen, ids, "one change per key, each seen once");
    Ok(())
}

pub async fn pruning_keeps_the_newest_change_and_the_numbers_survive_a_reopen<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    story.add_key(&acme, "Early Key", None).await?;
    let cut = story.tick();
    let late = story.add_key(&acme, "Late Key", None).await?;
    let last = store.last_change_seq().await?;

    // Changes recorded before the cut go; the one after it stays.
    assert_eq!(store.prune_changes(cut).await?, 3);
    let left = store.changes_since(0, 10).await?;
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].seq, &left[0].id), (last, &late.id));
    assert!(
        left[0].seq > 1,
        "a reader at 0 sees its next change is missing: it fell behind the log"
    );
    // Pruning everything old still keeps the newest, so the log's end stays readable.
    let far = story.now + Duration::days(30);
    assert_eq!(store.prune_changes(far).await?, 0);
    assert_eq!(store.last_change_seq().await?, last);

    drop(story);
    let store = reopen(engine, &db, store).await?;
    assert_eq!(store.last_change_seq().await?, last);
    let mut story = Story::new(store.clone())?;
    story.now = far;
    let after = story.add_key(&acme, "After Reopen", None).await?;
    assert_eq!(
        recorded_after(store.as_ref(), last).await?,
        [(ChangedObject::Key, after.id)]
    );
    Ok(())
}

pub async fn a_change_reads_back_by_its_number_with_its_time_until_pruned<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    assert_eq!(
        store.change_at(0).await?,
        None,
        "an empty log holds nothing"
    );
    let mut story = Story::new(store.clone())?;
    let before = story.now;
    let (acme, _) = story.create_workspace("acme").await?;
    story.add_key(&acme, "Early Key", None).await?;
    let cut = story.tick();
    story.add_key(&acme, "Late Key", None).await?;
    let last = store.last_change_seq().await?;
    let logged = store.changes_since(0, 10).await?;
    for change in &logged {
        let Some((read, at)) = store.change_at(change.seq).await? else {
            anyhow::bail!("change {} is in the log but does not read back", change.seq);
        };
        assert_eq!(&read, change);
        assert!(
            before <= at && at <= story.now,
            "recorded at the write's time"
        );
    }
    assert_eq!(store.change_at(last + 1).await?, None);
    // What pruning removed no longer reads back; the newest still does.
    store.prune_changes(cut).await?;
    assert_eq!(store.change_at(1).await?, None);
    assert!(store.change_at(last).await?.is_some());
    Ok(())
}
