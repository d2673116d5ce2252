//! Incremental chain verification against a real SQLite file: answers from the signed
//! verified prefix, a big tail answered `pending`, tampering after the prefix found at once
//! and inside it by the whole re-verification, a forged or altered prefix refused, and the
//! prefix trusted again after a restart with the same anchor key (and not with another); a
//! long chain checked against a signed anchor by its management events, without walking the
//! prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use keyward_app::anchors::Anchorer;
use keyward_app::{anchor_check, chain_answer, chain_verifier, ChainCheck, CheckStatus, Keyward};
use keyward_core::anchor::AnchorSigningKey;
use keyward_core::{
    AnchorPoint, ChainPosition, Clock, EventKind, ManualClock, NewEvent, Store, VerifiedPrefix,
};
use keyward_sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Events one answer checks in these tests, and one background step.
const BOUND: u64 = 50;
const CHUNK: u64 = 40;

struct World {
    _dir: tempfile::TempDir,
    db: PathBuf,
    key_file: PathBuf,
    clock: Arc<ManualClock>,
    workspace_id: String,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

async fn open_store(db: &Path) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", db.display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

/// A server's core on the world's database, signing with the anchor key in the key file.
async fn server(world: &World) -> Keyward {
    let store = open_store(&world.db).await;
    let key = keyward_app::anchor_key::load_or_create(&world.key_file).unwrap();
    Keyward::load(store, world.clock.clone())
        .await
        .unwrap()
        .with_anchorer(Anchorer::new(key, None, Duration::from_secs(600)))
        .with_chain_limits(BOUND, CHUNK)
}

/// A workspace with `verifications` verification events after its creation.
async fn world(verifications: usize) -> (World, Keyward) {
    let dir = tempfile::tempdir().unwrap();
    let world_ = World {
        db: dir.path().join("keyward.db"),
        key_file: dir.path().join("keyward.db.anchor-key"),
        _dir: dir,
        clock: Arc::new(ManualClock::new(start())),
        workspace_id: String::new(),
    };
    let store = open_store(&world_.db).await;
    let created = keyward_app::bootstrap::create_workspace(
        store.as_ref(),
        world_.clock.as_ref(),
        "acme",
        "sk",
    )
    .await
    .unwrap();
    let world = World {
        workspace_id: created.workspace.id,
        ..world_
    };
    append(store.as_ref(), &world, verifications).await;
    drop(store);
    let app = server(&world).await;
    (world, app)
}

async fn append(store: &dyn Store, world: &World, n: usize) {
    let events = (0..n)
        .map(|_| {
            NewEvent::new(
                &world.workspace_id,
                world.clock.now(),
                EventKind::KeyVerified,
            )
        })
        .collect();
    store.append_events(events).await.unwrap();
}

async fn head(app: &Keyward, world: &World) -> i64 {
    app.store()
        .chain_head(&world.workspace_id)
        .await
        .unwrap()
        .unwrap()
        .seq
}

async fn answer(app: &Keyward, world: &World) -> ChainCheck {
    chain_answer::answer(app, &world.workspace_id, false)
        .await
        .unwrap()
}

/// Changes the stored outcome of the event at `seq`, so its hash no longer matches.
async fn tamper(world: &World, seq: i64) {
    use sqlx::{ConnectOptions, Connection};
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&world.db)
        .connect()
        .await
        .unwrap();
    let changed = sqlx::query(
        "UPDATE audit_events SET outcome = kind \
         WHERE workspace_id = (SELECT id FROM audit_names WHERE value = ?) AND seq = ?",
    )
    .bind(&world.workspace_id)
    .bind(seq)
    .execute(&mut db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_long_chain_answers_pending_then_from_its_prefix_checking_only_the_tail() {
    let (world, app) = world(200).await;
    let head_seq = head(&app, &world).await;
    let pending = answer(&app, &world).await;
    assert_eq!(pending.status, CheckStatus::Pending, "{pending:?}");
    assert!(!pending.valid);
    assert_eq!(pending.head_seq, Some(head_seq));
    assert!(pending.unverified_events > BOUND);
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    assert!(app
        .render_metrics()
        .contains("keyward_audit_unverified_events 0"));
    let verified = answer(&app, &world).await;
    assert_eq!(verified.status, CheckStatus::Verified, "{verified:?}");
    assert!(verified.valid);
    assert_eq!(
        (verified.events, verified.verified_seq),
        (0, Some(head_seq))
    );
    append(app.store().as_ref(), &world, 30).await;
    let tail = answer(&app, &world).await;
    assert_eq!(tail.status, CheckStatus::Verified, "{tail:?}");
    assert_eq!((tail.events, tail.verified_seq), (30, Some(head_seq + 30)));
    // More new events than one answer checks: pending again, with how far it got.
    append(app.store().as_ref(), &world, 60).await;
    let behind = answer(&app, &world).await;
    assert_eq!(behind.status, CheckStatus::Pending, "{behind:?}");
    assert_eq!(behind.verified_seq, Some(head_seq + 30));
    assert_eq!(behind.unverified_events, 60);
}

#[tokio::test]
async fn tampering_after_the_prefix_is_found_at_once_and_inside_it_by_the_full_check() {
    let (world, app) = world(200).await;
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    let prefix_seq = head(&app, &world).await;
    append(app.store().as_ref(), &world, 20).await;
    tamper(&world, prefix_seq + 5).await;
    let broken = answer(&app, &world).await;
    assert_eq!(broken.status, CheckStatus::Broken, "{broken:?}");
    assert_eq!(broken.first_bad_seq, Some(prefix_seq + 5));
    // The break clears the prefix and is answered until a check verifies the chain again.
    assert!(app
        .store()
        .verified_prefix(&world.workspace_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        answer(&app, &world).await.first_bad_seq,
        Some(prefix_seq + 5)
    );

    let (world, app) = self::world(200).await;
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    tamper(&world, 100).await;
    // Inside the prefix, the answer trusts the prefix; the whole re-verification does not.
    assert_eq!(answer(&app, &world).await.status, CheckStatus::Verified);
    let full = chain_verifier::full_check(&app, &world.workspace_id)
        .await
        .unwrap();
    assert_eq!(full.first_bad_seq, Some(100), "{full:?}");
    let after = chain_answer::answer(&app, &world.workspace_id, false)
        .await
        .unwrap();
    assert_eq!(after.status, CheckStatus::Broken, "{after:?}");
    assert_eq!(after.first_bad_seq, Some(100));
    let progress = after.full_check.unwrap();
    assert!(!progress.running && progress.valid == Some(false));
    assert!(progress.checked >= 100, "{progress:?}");
}

#[tokio::test]
async fn a_forged_or_altered_prefix_is_refused_and_the_chain_checked_from_the_start() {
    let (world, app) = world(200).await;
    let head_seq = head(&app, &world).await;
    tamper(&world, 10).await;
    let event = app
        .store()
        .events_ascending(&world.workspace_id, head_seq - 1, 1)
        .await
        .unwrap();
    let at_head = ChainPosition {
        seq: head_seq,
        hash: event[0].hash.clone(),
        newest_checkpoint: None,
    };
    // Signed by another key, claiming the server's.
    let other = AnchorSigningKey::generate().unwrap();
    let mut forged = VerifiedPrefix::sign(&other, &world.workspace_id, &at_head, start());
    let server_key = keyward_app::anchor_key::load_or_create(&world.key_file).unwrap();
    forged.public_key = server_key.public_key().to_hex();
    app.store().put_verified_prefix(&forged).await.unwrap();
    assert_eq!(answer(&app, &world).await.status, CheckStatus::Pending);
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    assert_eq!(answer(&app, &world).await.first_bad_seq, Some(10));

    // A genuine prefix moved forward by editing its stored seq.
    let (world, app) = self::world(200).await;
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    let mut moved = app
        .store()
        .verified_prefix(&world.workspace_id)
        .await
        .unwrap()
        .unwrap();
    append(app.store().as_ref(), &world, 100).await;
    tamper(&world, moved.seq + 50).await;
    moved.seq += 100;
    let events = app
        .store()
        .events_ascending(&world.workspace_id, moved.seq - 1, 1)
        .await
        .unwrap();
    moved.hash = events[0].hash.clone();
    app.store().put_verified_prefix(&moved).await.unwrap();
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    let check = answer(&app, &world).await;
    assert_eq!(check.first_bad_seq, Some(moved.seq - 50), "{check:?}");
}

#[tokio::test]
async fn after_a_restart_checking_resumes_from_the_prefix_signed_with_the_same_key() {
    let (world, app) = world(200).await;
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    let prefix_seq = head(&app, &world).await;
    drop(app);
    let app = server(&world).await;
    append(app.store().as_ref(), &world, 20).await;
    let resumed = answer(&app, &world).await;
    assert_eq!(resumed.status, CheckStatus::Verified, "{resumed:?}");
    assert_eq!(
        (resumed.events, resumed.verified_seq),
        (20, Some(prefix_seq + 20))
    );
    drop(app);
    // Another anchor key: the stored prefix is not this server's, so checking starts over.
    std::fs::remove_file(&world.key_file).unwrap();
    let app = server(&world).await;
    assert_eq!(answer(&app, &world).await.status, CheckStatus::Pending);
}

#[tokio::test]
async fn a_short_chain_is_checked_whole_on_every_answer() {
    let (world, app) = world(20).await;
    let check = answer(&app, &world).await;
    assert_eq!(check.status, CheckStatus::Verified, "{check:?}");
    assert_eq!(
        check.events,
        u64::try_from(head(&app, &world).await).unwrap()
    );
    tamper(&world, 3).await;
    assert_eq!(answer(&app, &world).await.first_bad_seq, Some(3));
}

/// Appends `n` management events (of a kind retention never deletes).
async fn append_managed(store: &dyn Store, world: &World, n: usize) {
    let events = (0..n)
        .map(|_| {
            NewEvent::new(
                &world.workspace_id,
                world.clock.now(),
                EventKind::KeyUpdated,
            )
        })
        .collect();
    store.append_events(events).await.unwrap();
}

/// The seqs of the workspace's management events, ascending.
async fn managed_seqs(app: &Keyward, world: &World) -> Vec<i64> {
    let head = head(app, world).await;
    let kept = app
        .store()
        .kept_events(&world.workspace_id, 0, head, 10_000)
        .await
        .unwrap();
    kept.iter().map(|e| e.seq).collect()
}

async fn against(app: &Keyward, world: &World, anchor: &AnchorPoint) -> ChainCheck {
    anchor_check::check(app, &world.workspace_id, anchor.clone())
        .await
        .unwrap()
}

/// A long chain with management events among its verifications, anchored at its head, then
/// verified to its head by the background and grown by `tail` verifications.
async fn anchored_world(tail: usize) -> (World, Keyward, AnchorPoint) {
    let (world, app) = world(100).await;
    append_managed(app.store().as_ref(), &world, 3).await;
    append(app.store().as_ref(), &world, 100).await;
    let anchor = app
        .store()
        .anchor_point(&world.workspace_id)
        .await
        .unwrap()
        .unwrap();
    chain_verifier::catch_up(&app, &world.workspace_id)
        .await
        .unwrap();
    append(app.store().as_ref(), &world, tail).await;
    (world, app, anchor)
}

#[tokio::test]
async fn a_long_chain_is_checked_against_its_anchor_without_walking_the_prefix() {
    let (world, app, anchor) = anchored_world(20).await;
    let check = against(&app, &world, &anchor).await;
    assert_eq!(check.status, CheckStatus::Verified, "{check:?}");
    assert!(check.valid);
    assert_eq!(check.anchor_seq, Some(anchor.seq));
    // Only the tail after the verified prefix was walked.
    assert_eq!(check.events, 20);
    assert_eq!(check.verified_seq, Some(anchor.seq + 20));
    // More new events than one answer checks: pending, and still bound to the anchor.
    append(app.store().as_ref(), &world, 2 * BOUND as usize).await;
    let pending = against(&app, &world, &anchor).await;
    assert_eq!(pending.status, CheckStatus::Pending, "{pending:?}");
    assert_eq!(pending.anchor_seq, Some(anchor.seq));
    assert!(pending.first_bad_seq.is_none());
}

#[tokio::test]
async fn an_edited_management_event_inside_the_prefix_breaks_the_anchor_at_once() {
    let (world, app, anchor) = anchored_world(20).await;
    let edited = managed_seqs(&app, &world).await[2];
    assert!(edited < anchor.seq);
    tamper(&world, edited).await;
    // Without the anchor the answer trusts the verified prefix.
    assert_eq!(answer(&app, &world).await.status, CheckStatus::Verified);
    let check = against(&app, &world, &anchor).await;
    assert_eq!(check.status, CheckStatus::Broken, "{check:?}");
    assert_eq!(check.first_bad_seq, Some(edited));
    assert!(!check.valid);
    // Found while the tail is pending too.
    append(app.store().as_ref(), &world, 2 * BOUND as usize).await;
    assert_eq!(
        against(&app, &world, &anchor).await.first_bad_seq,
        Some(edited)
    );
}

#[tokio::test]
async fn a_deleted_management_event_or_a_changed_anchored_event_breaks_the_anchor() {
    use sqlx::{ConnectOptions, Connection};
    let (world, app, anchor) = anchored_world(20).await;
    let deleted = managed_seqs(&app, &world).await[1];
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&world.db)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "DELETE FROM audit_events \
         WHERE workspace_id = (SELECT id FROM audit_names WHERE value = ?) AND seq = ?",
    )
    .bind(&world.workspace_id)
    .bind(deleted)
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let check = against(&app, &world, &anchor).await;
    assert_eq!(check.status, CheckStatus::Broken, "{check:?}");
    assert_eq!(check.first_bad_seq, Some(anchor.seq));
    assert!(check.reason.unwrap().contains("never deletes"));

    // The anchored event is a verification, read on its own.
    let (world, app, anchor) = anchored_world(20).await;
    tamper(&world, anchor.seq).await;
    let check = against(&app, &world, &anchor).await;
    assert_eq!(check.first_bad_seq, Some(anchor.seq), "{check:?}");
    // An anchor beyond the head: the chain was cut back before it.
    let (world, app, mut anchor) = anchored_world(0).await;
    anchor.seq += 5;
    let check = against(&app, &world, &anchor).await;
    assert_eq!(check.status, CheckStatus::Broken, "{check:?}");
    assert_eq!(check.first_bad_seq, Some(anchor.seq - 4));
}
