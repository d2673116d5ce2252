//! Chapter 1, keys and lifecycle: workspaces, root keys and keys read back exactly as
//! written; live names are unique; updates, revocations and rotations; listing with status
//! filters and cursors; settings and usage; and everything written survives a reopen.

use crate::fixtures::{fresh, new_key, new_root_key, permissions, reopen, verify_chain, Story};
use crate::Engine;
use anyhow::Result;
use chrono::Duration;
use keyward_core::ids::{self, new_id};
use keyward_core::{
    AuditRules, EventKind, KeyFilter, KeyRecord, KeyStatus, KeyUsage, NewEvent, Store, StoreError,
    UsageIncrement, VerificationAudit, Workspace, WorkspaceSettings,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn workspaces_are_listed_with_the_events_that_created_them<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    let listed = store.workspaces().await?;
    assert!(listed.contains(&acme) && listed.contains(&globex));
    assert_eq!(store.chain_head(&acme.id).await?.map(|h| h.seq), Some(2));
    Ok(())
}

pub async fn creating_a_workspace_twice_fails_and_records_nothing<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let again = store.create_workspace(
        &acme,
        &acme_root,
        vec![story.event(&acme, EventKind::WorkspaceCreated)],
    );
    assert!(again.await.is_err(), "a workspace id is unique");
    story.assert_chain_length(&acme).await
}

pub async fn root_keys_read_back_as_written_after_an_insert_and_a_revocation<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let (_, globex_root) = story.create_workspace("globex").await?;
    let now = story.tick();
    let mut deputy = new_root_key(
        &acme,
        "deputy",
        permissions(&["keys:read", "audit:read"])?,
        now,
    );
    store
        .insert_root_key(&deputy, story.event(&acme, EventKind::RootKeyCreated))
        .await?;
    deputy.revoked_at = Some(story.tick());
    deputy.name = "deputy (revoked)".into();
    store
        .update_root_key(&deputy, story.event(&acme, EventKind::RootKeyRevoked))
        .await?;
    story.appended(&acme, 2);
    story.assert_chain_length(&acme).await?;
    let root_keys = store.root_keys().await?;
    for root_key in [&acme_root, &globex_root, &deputy] {
        assert!(
            root_keys.contains(root_key),
            "root key {} reads back as written",
            root_key.id
        );
    }
    Ok(())
}

pub async fn a_key_reads_back_exactly_as_written_and_an_unknown_one_as_none<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let billing = new_key(&acme, "Billing Service", Some("user_1"), story.tick())?;
    story.insert_key(&billing).await?;
    assert_eq!(
        store.key(&acme.id, &billing.id).await?.as_ref(),
        Some(&billing)
    );
    assert_eq!(
        store
            .key(&acme.id, "key_00000000000000000000000000000000")
            .await?,
        None
    );
    Ok(())
}

/// An imported key (another system's secret, known by its digest) keeps its mark through
/// every read, a rotation (whose replacement is keyward's own) and a reopen.
pub async fn an_imported_key_keeps_its_mark_through_reads_rotation_and_a_reopen<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let dyn_store: Arc<dyn Store> = store.clone();
    let mut story = Story::new(dyn_store)?;
    let (acme, _) = story.create_workspace("acme").await?;
    let mut imported = new_key(&acme, "Legacy Billing", None, story.tick())?;
    imported.imported = true;
    imported.start = String::new();
    story.insert_key(&imported).await?;
    let own = story.add_key(&acme, "Billing Service", None).await?;
    assert_eq!(
        store.key(&acme.id, &imported.id).await?.as_ref(),
        Some(&imported)
    );
    assert!(!store
        .key(&acme.id, &own.id)
        .await?
        .is_some_and(|key| key.imported));
    let listed = store
        .list_keys(&acme.id, &story.filter(None, None, 10))
        .await?;
    assert!(listed
        .iter()
        .any(|key| key.id == imported.id && key.imported));
    let (rotated, replacement) = story.rotate(&acme, &imported).await?;
    drop(story);
    let store = reopen(engine, &db, store).await?;
    let all = store.all_keys().await?;
    let mark = |id: &str| all.iter().find(|key| key.id == id).map(|key| key.imported);
    assert_eq!(
        mark(&rotated.id),
        Some(true),
        "the rotated key stays imported"
    );
    assert_eq!(
        mark(&replacement.id),
        Some(false),
        "its replacement is keyward's own"
    );
    assert_eq!(mark(&own.id), Some(false));
    Ok(())
}

pub async fn a_live_name_is_unique_in_its_workspace_whatever_its_case<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    story.add_key(&acme, "Billing Service", None).await?;
    let clash = new_key(&acme, "BILLING service", None, story.tick())?;
    story
        .assert_name_taken(story.try_insert_key(&clash).await, &acme)
        .await?;
    assert_eq!(store.key(&acme.id, &clash.id).await?, None);
    Ok(())
}

pub async fn a_key_needs_an_existing_workspace<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let nowhere = Workspace {
        id: new_id(ids::WORKSPACE),
        ..acme
    };
    let homeless = new_key(&nowhere, "Homeless Key", None, story.tick())?;
    assert!(
        story.try_insert_key(&homeless).await.is_err(),
        "a key needs an existing workspace"
    );
    Ok(())
}

pub async fn a_revoked_key_gives_up_its_name<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store)?;
    let (acme, _) = story.create_workspace("acme").await?;
    let mut reports = story
        .add_key(&acme, "Reports Exporter", Some("user_2"))
        .await?;
    reports.revoked_at = Some(story.tick());
    reports.revoked_reason = Some("leaked in a CI log".into());
    reports.updated_at = story.now;
    story.update_key(&reports, EventKind::KeyRevoked).await?;
    story
        .add_key(&acme, "reports exporter", Some("user_2"))
        .await?;
    Ok(())
}

pub async fn an_update_replaces_every_mutable_field<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store)?;
    let (acme, _) = story.create_workspace("acme").await?;
    let mut billing = story
        .add_key(&acme, "Billing Service", Some("user_1"))
        .await?;
    billing.description = None;
    billing.enabled = false;
    billing.permissions = permissions(&["*"])?;
    billing.expires_at = Some(story.now + Duration::days(30));
    billing
        .metadata
        .insert("tier".into(), serde_json::json!("gold"));
    billing.owner_id = Some("user_9".into());
    billing.updated_at = story.tick();
    story.update_key(&billing, EventKind::KeyUpdated).await?;
    story.assert_chain_length(&acme).await
}

pub async fn a_rename_onto_a_live_name_fails_and_records_nothing<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store)?;
    let (acme, _) = story.create_workspace("acme").await?;
    let billing = story.add_key(&acme, "Billing Service", None).await?;
    story.add_key(&acme, "Reports Exporter", None).await?;
    let renamed = KeyRecord {
        name: "REPORTS Exporter".into(),
        ..billing
    };
    story
        .assert_name_taken(story.try_update_key(&renamed).await, &acme)
        .await
}

pub async fn updating_an_unknown_key_answers_not_found_and_records_nothing<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store)?;
    let (acme, _) = story.create_workspace("acme").await?;
    let billing = story.add_key(&acme, "Billing Service", None).await?;
    let unknown = KeyRecord {
        id: new_id(ids::KEY),
        ..billing
    };
    assert!(matches!(
        story.try_update_key(&unknown).await,
        Err(StoreError::NotFound)
    ));
    story.assert_chain_length(&acme).await
}

/// The old key is marked replaced (and revoked after a grace period), the new one holds the
/// name.
pub async fn a_rotated_key_is_marked_replaced_and_its_replacement_holds_the_name<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let billing = story
        .add_key(&acme, "Billing Service", Some("user_1"))
        .await?;
    let (old, new) = story.rotate(&acme, &billing).await?;
    assert_eq!(store.key(&acme.id, &old.id).await?.as_ref(), Some(&old));
    assert_eq!(store.key(&acme.id, &new.id).await?.as_ref(), Some(&new));
    story.assert_chain_length(&acme).await?;
    let third = new_key(&acme, "billing SERVICE", None, story.tick())?;
    story
        .assert_name_taken(story.try_insert_key(&third).await, &acme)
        .await
}

pub async fn all_keys_is_every_key_of_every_workspace_oldest_first<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    story.keys_in_every_status(&acme).await?;
    story.add_key(&globex, "Billing Service", None).await?;
    let all = store.all_keys().await?;
    let expected: Vec<&KeyRecord> = story.keys.values().collect();
    assert_eq!(
        all.iter().collect::<Vec<_>>(),
        expected,
        "all_keys is every key, oldest first"
    );
    Ok(())
}

/// `each_key` passes every key of every workspace exactly once, as `all_keys` reads it (in
/// any order), also after a rotation and a reopen.
pub async fn each_key_streams_every_key_exactly_once<E: Engine>(engine: &E) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let dyn_store: Arc<dyn Store> = store.clone();
    let mut story = Story::new(dyn_store)?;
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    story.keys_in_every_status(&acme).await?;
    let billing = story.add_key(&globex, "Billing Service", None).await?;
    story.rotate(&globex, &billing).await?;
    let expected = story.keys.clone();
    drop(story);
    let store = reopen(engine, &db, store).await?;
    let mut streamed = BTreeMap::new();
    let mut repeated = Vec::new();
    store
        .each_key(&mut |key| {
            if let Some(before) = streamed.insert(key.id.clone(), key) {
                repeated.push(before.id);
            }
        })
        .await?;
    assert_eq!(repeated, Vec::<String>::new(), "no key is passed twice");
    assert_eq!(streamed, expected);
    Ok(())
}

/// Every status filter, at two instants, lists exactly the keys `KeyRecord::status` puts in
/// that status, newest first.
pub async fn every_status_filter_agrees_with_the_key_status_at_two_instants<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    story.keys_in_every_status(&acme).await?;
    for at in [story.now, story.now + Duration::hours(2)] {
        for status in [
            None,
            Some(KeyStatus::Active),
            Some(KeyStatus::Disabled),
            Some(KeyStatus::Expired),
            Some(KeyStatus::Revoked),
        ] {
            let filter = KeyFilter {
                owner_id: None,
                status,
                now: at,
                before_id: None,
                limit: 1000,
            };
            let listed = store.list_keys(&acme.id, &filter).await?;
            let expected = story.expected_list(&acme, None, status, at);
            assert_eq!(listed, expected, "status {status:?} at {at}");
            if at == story.now && status.is_some() {
                assert!(!expected.is_empty(), "the story has a {status:?} key");
            }
        }
    }
    Ok(())
}

/// Cursor pagination skips and repeats no key, also with owner and status filters.
pub async fn cursor_pages_skip_and_repeat_no_key<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    story.keys_in_every_status(&acme).await?;
    for (owner, status, limit) in [
        (Some("pager"), None, 3),
        (None, Some(KeyStatus::Active), 2),
        (None, None, 1),
    ] {
        let mut filter = story.filter(owner, status, limit);
        let mut seen = Vec::new();
        loop {
            let page = store.list_keys(&acme.id, &filter).await?;
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else { break };
            filter.before_id = Some(last.id.clone());
            seen.extend(page);
        }
        assert_eq!(
            seen,
            story.expected_list(&acme, owner, status, story.now),
            "{owner:?} {status:?} by {limit}"
        );
    }
    Ok(())
}

/// Settings round-trip (every level, and the audit rules in their order), and writing them
/// appends to the chain like any change.
pub async fn workspace_settings_read_back_as_written<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let mut settings = WorkspaceSettings {
        workspace_id: acme.id.clone(),
        verification_audit: VerificationAudit::Failures,
        audit_rules: AuditRules::default(),
        audit_retention_days: 30,
    };
    store
        .put_workspace_settings(&settings, story.event(&acme, EventKind::WorkspaceUpdated))
        .await?;
    assert_eq!(store.workspace_settings().await?, vec![settings.clone()]);
    settings.verification_audit = VerificationAudit::Aggregate;
    settings.audit_rules = AuditRules::parse(
        [
            ("invoices.delete", VerificationAudit::All),
            ("*.read", VerificationAudit::Aggregate),
            ("health", VerificationAudit::None),
            ("*", VerificationAudit::Failures),
        ]
        .into_iter(),
    )?;
    store
        .put_workspace_settings(&settings, story.event(&acme, EventKind::WorkspaceUpdated))
        .await?;
    assert_eq!(store.workspace_settings().await?, vec![settings]);
    story.appended(&acme, 2);
    story.assert_chain_length(&acme).await?;
    assert!(verify_chain(store.as_ref(), &acme.id).await?.valid);
    Ok(())
}

/// Usage is recorded as increments, as several nodes write it for one key: two writes add up
/// (also two for one key in one call, and two written at once by two writers), and an older
/// `last_used_at` never moves the stored one back, nor does an increment without one.
pub async fn usage_increments_add_up_and_last_use_never_moves_back<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let key_id = new_id(ids::KEY);
    let older = story.tick();
    let newer = story.tick();
    let increment = |verifications_added, last_used_at| UsageIncrement {
        key_id: key_id.clone(),
        workspace_id: acme.id.clone(),
        last_used_at,
        verifications_added,
    };
    store.record_usage(vec![increment(40, Some(newer))]).await?;
    store
        .record_usage(vec![increment(2, Some(older)), increment(3, None)])
        .await?;
    let (a, b) = (store.clone(), store.clone());
    let (first, second) = tokio::join!(
        a.record_usage(vec![increment(5, None)]),
        b.record_usage(vec![increment(7, Some(older))]),
    );
    first?;
    second?;
    let expected = KeyUsage {
        key_id: key_id.clone(),
        workspace_id: acme.id.clone(),
        last_used_at: Some(newer),
        verifications: 57,
    };
    assert_eq!(store.key_usage().await?, vec![expected]);

    let later = story.tick();
    store.record_usage(vec![increment(1, Some(later))]).await?;
    let usage = store.key_usage().await?;
    assert_eq!(usage[0].last_used_at, Some(later));
    assert_eq!(usage[0].verifications, 58);
    Ok(())
}

/// Workspaces, root keys, keys in every status and both chains are found again, unchanged,
/// after the store is closed and the database opened again.
pub async fn everything_written_survives_a_reopen<E: Engine>(engine: &E) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let dyn_store: Arc<dyn Store> = store.clone();
    let mut story = Story::new(dyn_store)?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let (globex, globex_root) = story.create_workspace("globex").await?;
    let mut deputy = new_root_key(&acme, "deputy", permissions(&["keys:read"])?, story.now);
    store
        .insert_root_key(&deputy, story.event(&acme, EventKind::RootKeyCreated))
        .await?;
    deputy.revoked_at = Some(story.tick());
    store
        .update_root_key(&deputy, story.event(&acme, EventKind::RootKeyRevoked))
        .await?;
    story.keys_in_every_status(&acme).await?;
    story.add_key(&globex, "Billing Service", None).await?;
    let verified: Vec<NewEvent> = [&acme, &globex, &acme]
        .into_iter()
        .map(|ws| story.event(ws, EventKind::KeyVerified))
        .collect();
    store.append_events(verified).await?;
    let mut heads = Vec::new();
    for ws in [&acme, &globex] {
        heads.push((ws.id.clone(), store.chain_head(&ws.id).await?));
    }
    let keys = std::mem::take(&mut story.keys);
    drop(story);

    let store = reopen(engine, &db, store).await?;
    let workspaces = store.workspaces().await?;
    for workspace in [&acme, &globex] {
        assert!(
            workspaces.contains(workspace),
            "workspace {} survives",
            workspace.id
        );
    }
    let root_keys = store.root_keys().await?;
    for root_key in [&acme_root, &globex_root, &deputy] {
        assert!(
            root_keys.contains(root_key),
            "root key {} survives",
            root_key.id
        );
    }
    let found: BTreeMap<String, KeyRecord> = store
        .all_keys()
        .await?
        .into_iter()
        .map(|k| (k.id.clone(), k))
        .collect();
    assert_eq!(found, keys);
    for (workspace_id, head) in &heads {
        assert_eq!(&store.chain_head(workspace_id).await?, head);
        let report = verify_chain(store.as_ref(), workspace_id).await?;
        assert!(report.valid, "{report:?}");
    }
    Ok(())
}
