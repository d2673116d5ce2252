//! Chapter 5, tenancy: every query is scoped by workspace, and another workspace's objects
//! answer exactly as missing ones do (`None`, `NotFound`, nothing listed), without writing
//! anything in either workspace.

use crate::fixtures::{all_events, ascending, fresh, new_key, Story};
use crate::restrictions::with_credits;
use crate::Engine;
use anyhow::Result;
use chrono::Duration;
use keyward_core::ids::{self, new_id};
use keyward_core::{
    CreditOutcome, EventKind, KeyRecord, NewEvent, RootKey, Store, StoreError, Workspace,
    WorkspacePolicy,
};

/// Two workspaces, acme and globex, and a key in acme with five credits.
struct Tenants {
    story: Story,
    acme: Workspace,
    globex: Workspace,
    acme_root: RootKey,
    billing: KeyRecord,
}

async fn tenants(store: std::sync::Arc<dyn Store>) -> Result<Tenants> {
    let mut story = Story::new(store)?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    let mut billing = new_key(&acme, "Billing Service", Some("user_1"), story.tick())?;
    billing.restrictions = with_credits(5)?;
    story.insert_key(&billing).await?;
    Ok(Tenants {
        story,
        acme,
        globex,
        acme_root,
        billing,
    })
}

impl Tenants {
    /// Neither workspace's chain holds more than the model says.
    async fn nothing_recorded(&self) -> Result<()> {
        self.story.assert_chain_length(&self.acme).await?;
        self.story.assert_chain_length(&self.globex).await
    }

    /// The key as another workspace would name it in a write.
    fn foreign_billing(&self) -> KeyRecord {
        KeyRecord {
            workspace_id: self.globex.id.clone(),
            ..self.billing.clone()
        }
    }

    fn unknown_billing(&self) -> KeyRecord {
        KeyRecord {
            id: new_id(ids::KEY),
            ..self.billing.clone()
        }
    }
}

pub async fn another_workspaces_key_reads_as_a_missing_one<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t = tenants(store.clone()).await?;
    assert_eq!(
        store.key(&t.globex.id, &t.billing.id).await?,
        None,
        "keys are scoped to their workspace"
    );
    assert_eq!(store.key(&t.globex.id, &new_id(ids::KEY)).await?, None);
    Ok(())
}

pub async fn a_name_live_in_one_workspace_is_free_in_another<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut t = tenants(store).await?;
    let globex = t.globex.clone();
    t.story
        .add_key(&globex, &t.billing.name.clone(), None)
        .await?;
    Ok(())
}

pub async fn updating_another_workspaces_key_answers_as_a_missing_one<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t = tenants(store.clone()).await?;
    for key in [t.foreign_billing(), t.unknown_billing()] {
        let updated = t.story.try_update_key(&key).await;
        assert!(matches!(updated, Err(StoreError::NotFound)), "{updated:?}");
        let event = t.story.key_event(&key, EventKind::KeyUpdated);
        let updated = store.update_key_and_credits(&key, event).await;
        assert!(matches!(updated, Err(StoreError::NotFound)), "{updated:?}");
    }
    t.nothing_recorded().await?;
    assert_eq!(
        store.key(&t.acme.id, &t.billing.id).await?.as_ref(),
        Some(&t.billing)
    );
    Ok(())
}

pub async fn rotating_another_workspaces_key_answers_as_a_missing_one<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut t = tenants(store.clone()).await?;
    for old in [t.foreign_billing(), t.unknown_billing()] {
        let mut old = old;
        let new = new_key(&t.globex, "Billing Successor", None, t.story.tick())?;
        old.replaced_by = Some(new.id.clone());
        let event = t.story.event(&t.globex, EventKind::KeyRotated);
        let rotated = store.rotate_key(&old, &new, event).await;
        assert!(matches!(rotated, Err(StoreError::NotFound)), "{rotated:?}");
        assert_eq!(store.key(&t.globex.id, &new.id).await?, None);
    }
    t.nothing_recorded().await?;
    assert_eq!(
        store.key(&t.acme.id, &t.billing.id).await?.as_ref(),
        Some(&t.billing)
    );
    Ok(())
}

pub async fn revoking_another_workspaces_root_key_answers_as_a_missing_one<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t = tenants(store.clone()).await?;
    let mut revoked = t.acme_root.clone();
    revoked.revoked_at = Some(t.story.now);
    let foreign = RootKey {
        workspace_id: t.globex.id.clone(),
        ..revoked.clone()
    };
    let unknown = RootKey {
        id: new_id(ids::ROOT_KEY),
        ..revoked
    };
    for root_key in [foreign, unknown] {
        let event = t
            .story
            .event_in(&root_key.workspace_id, EventKind::RootKeyRevoked);
        let moved = store.update_root_key(&root_key, event).await;
        assert!(matches!(moved, Err(StoreError::NotFound)), "{moved:?}");
    }
    t.nothing_recorded().await?;
    assert!(store.root_keys().await?.contains(&t.acme_root));
    Ok(())
}

pub async fn spending_another_workspaces_credits_answers_as_a_missing_key<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t = tenants(store.clone()).await?;
    let now = t.story.now;
    let foreign = store.spend_credits(&t.globex.id, &t.billing.id, 1, now);
    assert_eq!(foreign.await?, None);
    let missing_id = new_id(ids::KEY);
    let missing = store.spend_credits(&t.globex.id, &missing_id, 1, now);
    assert_eq!(missing.await?, None);
    assert_eq!(
        store
            .spend_credits(&t.acme.id, &t.billing.id, 1, now)
            .await?,
        Some(CreditOutcome::Spent { remaining: 4 }),
        "the balance is untouched"
    );
    Ok(())
}

pub async fn a_list_holds_only_the_workspaces_own_keys<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut t = tenants(store.clone()).await?;
    let globex = t.globex.clone();
    t.story.add_key(&globex, "Billing Service", None).await?;
    t.story
        .add_key(&globex, "Ledger Sync", Some("user_1"))
        .await?;
    for ws in [&t.acme, &t.globex] {
        let listed = store
            .list_keys(&ws.id, &t.story.filter(None, None, 1000))
            .await?;
        assert_eq!(listed, t.story.expected_list(ws, None, None, t.story.now));
        let owned = store
            .list_keys(&ws.id, &t.story.filter(Some("user_1"), None, 1000))
            .await?;
        assert_eq!(owned.len(), 1, "{}'s key of user_1", ws.name);
    }
    let nobody = store
        .list_keys(&new_id(ids::WORKSPACE), &t.story.filter(None, None, 1000))
        .await?;
    assert_eq!(nobody, []);
    Ok(())
}

/// Events, pages of events and chain heads of one workspace hold only its own events; a
/// workspace that does not exist has none.
pub async fn each_workspace_reads_only_its_own_events<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut t = tenants(store.clone()).await?;
    let (acme, globex) = (t.acme.clone(), t.globex.clone());
    let verified = vec![
        t.story.event(&acme, EventKind::KeyVerified),
        t.story.event(&globex, EventKind::KeyVerified),
        t.story.event(&globex, EventKind::KeyVerified),
    ];
    store.append_events(verified).await?;
    t.story.appended(&acme, 1);
    t.story.appended(&globex, 2);
    for ws in [&acme, &globex] {
        t.story.assert_chain_length(ws).await?;
        let newest_first = all_events(store.as_ref(), &ws.id).await?;
        let oldest_first = ascending(store.as_ref(), &ws.id).await?;
        assert_eq!(newest_first.len() as i64, t.story.expected_len(ws));
        assert_eq!(oldest_first.len(), newest_first.len());
        for event in newest_first.iter().chain(&oldest_first) {
            assert_eq!(event.event.workspace_id, ws.id);
        }
    }
    let nobody = new_id(ids::WORKSPACE);
    assert_eq!(all_events(store.as_ref(), &nobody).await?, []);
    assert_eq!(ascending(store.as_ref(), &nobody).await?, []);
    assert_eq!(store.chain_head(&nobody).await?, None);
    assert_eq!(store.checkpoint(&nobody).await?, None);
    Ok(())
}

pub async fn a_policy_applies_to_its_own_workspace_only<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t = tenants(store.clone()).await?;
    let policy = WorkspacePolicy::new(Some(86_400))?;
    let ev = NewEvent::new(&t.acme.id, t.story.now, EventKind::PolicyUpdated);
    store.set_workspace_policy(&t.acme.id, &policy, ev).await?;
    assert_eq!(store.workspace_policy(&t.acme.id).await?, policy);
    assert_eq!(
        store.workspace_policy(&t.globex.id).await?,
        WorkspacePolicy::default()
    );
    Ok(())
}

/// Retention in one workspace deletes none of another's events, however old.
pub async fn pruning_one_workspace_leaves_anothers_events<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut t = tenants(store.clone()).await?;
    let (acme, globex) = (t.acme.clone(), t.globex.clone());
    let old = t.story.now;
    let verified = vec![
        t.story.event(&acme, EventKind::KeyVerified),
        t.story.event(&globex, EventKind::KeyVerified),
    ];
    store.append_events(verified).await?;
    t.story.appended(&acme, 1);
    t.story.appended(&globex, 1);
    let cut = old + Duration::days(1);
    let kind = EventKind::KeyVerified;
    let deleted = store.prune_events(&acme.id, kind, cut, cut).await?;
    assert_eq!(deleted, 1);
    t.story.assert_chain_length(&globex).await?;
    assert_eq!(store.checkpoint(&globex.id).await?, None);
    let globex_events = all_events(store.as_ref(), &globex.id).await?;
    assert_eq!(globex_events.len() as i64, t.story.expected_len(&globex));
    Ok(())
}
