//! Chapter 8, the dashboard: sessions found by their token's hash and one-time handover
//! links, each written with its audit event in one transaction; a link is taken exactly
//! once, also by callers racing for it; pruning deletes only what has ended.

use crate::fixtures::{all_events, fresh, verify_chain, Story};
use crate::Engine;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::ids::{self, new_id};
use keyward_core::{EventKind, Handover, KeyHash, RootKey, Session, Store, Workspace};
use std::sync::Arc;

fn session(ws: &Workspace, root: &RootKey, token: &str, now: DateTime<Utc>) -> Session {
    Session {
        token_hash: KeyHash::of(token),
        workspace_id: ws.id.clone(),
        root_key_id: root.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + Duration::hours(12),
    }
}

fn handover(ws: &Workspace, now: DateTime<Utc>, lifetime: Duration) -> Handover {
    Handover {
        id: new_id(ids::HANDOVER),
        workspace_id: ws.id.clone(),
        key_id: new_id(ids::KEY),
        key_name: "billing".into(),
        secret_hash: KeyHash::of(&new_id("link_secret")),
        key_version: 1,
        nonce: vec![9; 12],
        ciphertext: (0u8..=255).collect(),
        created_at: now,
        expires_at: now + lifetime,
    }
}

async fn kinds(store: &dyn Store, ws: &Workspace) -> Result<Vec<String>> {
    Ok(all_events(store, &ws.id)
        .await?
        .into_iter()
        .map(|e| e.event.kind)
        .collect())
}

pub async fn a_session_reads_back_as_written_with_its_sign_in_chained<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, root) = story.create_workspace("acme").await?;
    let now = story.tick();
    let written = session(&ws, &root, "token-1", now);
    let event = story.event(&ws, EventKind::DashboardSignedIn);
    store.insert_session(&written, event).await?;
    story.appended(&ws, 1);
    assert_eq!(store.session(&KeyHash::of("token-1")).await?, Some(written));
    assert_eq!(store.session(&KeyHash::of("token-2")).await?, None);
    assert_eq!(kinds(store.as_ref(), &ws).await?[0], "dashboard.signed_in");
    story.assert_chain_length(&ws).await?;
    assert!(verify_chain(store.as_ref(), &ws.id).await?.valid);
    Ok(())
}

pub async fn touching_a_session_moves_its_last_use_forward_only<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, root) = story.create_workspace("acme").await?;
    let now = story.tick();
    let hash = KeyHash::of("token-1");
    let event = story.event(&ws, EventKind::DashboardSignedIn);
    store
        .insert_session(&session(&ws, &root, "token-1", now), event)
        .await?;
    let later = now + Duration::minutes(5);
    store.touch_session(&hash, later).await?;
    store
        .touch_session(&hash, now + Duration::minutes(1))
        .await?;
    let read = store.session(&hash).await?.context("the session")?;
    assert_eq!(read.last_seen_at, later);
    assert_eq!(read.created_at, now);
    // Touching a session that does not exist changes nothing and is not an error.
    store.touch_session(&KeyHash::of("nobody"), later).await?;
    Ok(())
}

pub async fn ending_a_session_deletes_it_and_records_its_sign_out_once<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, root) = story.create_workspace("acme").await?;
    let now = story.tick();
    let hash = KeyHash::of("token-1");
    let event = story.event(&ws, EventKind::DashboardSignedIn);
    store
        .insert_session(&session(&ws, &root, "token-1", now), event)
        .await?;
    story.appended(&ws, 1);
    let out = story.event(&ws, EventKind::DashboardSignedOut);
    assert!(store.end_session(&hash, out).await?);
    story.appended(&ws, 1);
    assert_eq!(store.session(&hash).await?, None);
    let again = story.event(&ws, EventKind::DashboardSignedOut);
    assert!(!store.end_session(&hash, again).await?);
    story.assert_chain_length(&ws).await?;
    assert_eq!(kinds(store.as_ref(), &ws).await?[0], "dashboard.signed_out");
    Ok(())
}

pub async fn a_handover_reads_back_and_is_taken_exactly_once<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, _) = story.create_workspace("acme").await?;
    let now = story.tick();
    let written = handover(&ws, now, Duration::hours(72));
    let event = story.event(&ws, EventKind::KeyHandoverCreated);
    store.insert_handover(&written, event).await?;
    story.appended(&ws, 1);
    assert_eq!(store.handover(&written.id).await?, Some(written.clone()));
    let picked = story.event(&ws, EventKind::KeyPickedUp);
    assert!(store.take_handover(&written.id, picked).await?);
    story.appended(&ws, 1);
    assert_eq!(store.handover(&written.id).await?, None);
    let again = story.event(&ws, EventKind::KeyPickedUp);
    assert!(!store.take_handover(&written.id, again).await?);
    story.assert_chain_length(&ws).await?;
    let kinds = kinds(store.as_ref(), &ws).await?;
    assert_eq!(kinds[..2], ["key.picked_up", "key.handover_created"]);
    assert!(verify_chain(store.as_ref(), &ws.id).await?.valid);
    Ok(())
}

pub async fn of_callers_racing_for_one_handover_exactly_one_takes_it<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, _) = story.create_workspace("acme").await?;
    let now = story.tick();
    let written = handover(&ws, now, Duration::hours(1));
    let event = story.event(&ws, EventKind::KeyHandoverCreated);
    store.insert_handover(&written, event).await?;
    story.appended(&ws, 1);
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store: Arc<dyn Store> = store.clone();
        let id = written.id.clone();
        let event = story.event(&ws, EventKind::KeyPickedUp);
        racers.push(tokio::spawn(async move {
            store.take_handover(&id, event).await
        }));
    }
    let mut taken = 0;
    for racer in racers {
        if racer.await?? {
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "exactly one caller takes the link");
    story.appended(&ws, 1);
    story.assert_chain_length(&ws).await?;
    Ok(())
}

pub async fn pruning_deletes_only_ended_sessions_and_links<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, root) = story.create_workspace("acme").await?;
    let now = story.tick();
    let mut ended = session(&ws, &root, "ended", now);
    ended.expires_at = now + Duration::minutes(1);
    let live = session(&ws, &root, "live", now);
    for s in [&ended, &live] {
        let event = story.event(&ws, EventKind::DashboardSignedIn);
        store.insert_session(s, event).await?;
    }
    let old_link = handover(&ws, now, Duration::minutes(1));
    let new_link = handover(&ws, now, Duration::hours(72));
    for h in [&old_link, &new_link] {
        let event = story.event(&ws, EventKind::KeyHandoverCreated);
        store.insert_handover(h, event).await?;
    }
    assert_eq!(store.prune_dashboard(now).await?, 0);
    assert_eq!(store.prune_dashboard(now + Duration::minutes(1)).await?, 2);
    assert_eq!(store.session(&KeyHash::of("ended")).await?, None);
    assert!(store.session(&KeyHash::of("live")).await?.is_some());
    assert_eq!(store.handover(&old_link.id).await?, None);
    assert!(store.handover(&new_link.id).await?.is_some());
    Ok(())
}
