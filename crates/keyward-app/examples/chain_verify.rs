//! How long `audit verify` takes on a long chain: the whole verification from the start (what
//! every answer did before the verified prefix, and what the background's first pass and its
//! daily re-verification still do) against the answer once the background has caught up and
//! a few thousand new events have arrived, and the answer against an anchor signed at the head
//! (one event in [`MANAGED_EVERY`] is a management event, which an anchor binds one by one).
//! The chain is filled through the store's import path (events linked in process, so it
//! verifies), in a fresh SQLite file.
//!
//!     cargo run --release -p keyward-app --example chain_verify -- [events] [new events]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use keyward_app::anchors::Anchorer;
use keyward_app::{anchor_check, chain_answer, chain_verifier, CheckStatus, Keyward, SystemClock};
use keyward_core::anchor::AnchorSigningKey;
use keyward_core::{AuditEvent, Clock, EventKind, NewEvent, Store};
use keyward_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events written per import transaction.
const BATCH: usize = 50_000;
/// One event in this many is a management event (a key updated).
const MANAGED_EVERY: usize = 1000;

fn verification(workspace_id: &str, clock: &dyn Clock, i: usize) -> NewEvent {
    let kind = if i % MANAGED_EVERY == MANAGED_EVERY - 1 {
        EventKind::KeyUpdated
    } else {
        EventKind::KeyVerified
    };
    let mut event = NewEvent::new(workspace_id, clock.now(), kind)
        .subject(&format!("key_{:06}", i % 1000), "Stripe sync");
    event.outcome = "VALID".to_owned();
    event.action = Some("invoices.read".to_owned());
    event.ip = Some("203.0.113.7".to_owned());
    event
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(1_000_000, |a| a.parse().unwrap());
    let new_events: usize = args.next().map_or(5_000, |a| a.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("chain.db").display());
    let sqlite = SqliteStore::connect(&url).await.unwrap();
    sqlite.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ws =
        keyward_app::bootstrap::create_workspace(store.as_ref(), clock.as_ref(), "Bench", "bench")
            .await
            .unwrap()
            .workspace
            .id;

    let filling = Instant::now();
    let mut head = store.chain_head(&ws).await.unwrap().unwrap();
    let mut written = 0;
    while written < events {
        let n = BATCH.min(events - written);
        let batch: Vec<AuditEvent> = (written..written + n)
            .map(|i| {
                let event = verification(&ws, clock.as_ref(), i);
                let linked = head.link(&event);
                AuditEvent {
                    event,
                    seq: linked.seq,
                    prev_hash: linked.prev_hash,
                    hash: linked.hash,
                }
            })
            .collect();
        store.import_events(&ws, &batch, &head).await.unwrap();
        written += n;
    }
    let filled = filling.elapsed();

    let key = AnchorSigningKey::generate().unwrap();
    let app = Keyward::load(store.clone(), clock.clone())
        .await
        .unwrap()
        .with_anchorer(Anchorer::new(key, None, Duration::from_secs(600)));

    let whole = Instant::now();
    let check = keyward_app::audit_check::check(&app, &ws).await.unwrap();
    let whole = whole.elapsed();
    assert!(check.valid, "{check:?}");

    let pending = Instant::now();
    let answer = chain_answer::answer(&app, &ws, false).await.unwrap();
    let pending = pending.elapsed();
    let pending_status = answer.status;

    let first_pass = Instant::now();
    chain_verifier::catch_up(&app, &ws).await.unwrap();
    let first_pass = first_pass.elapsed();
    let signing = Instant::now();
    let anchor = store.anchor_point(&ws).await.unwrap().unwrap();
    let signing = signing.elapsed();

    let batch: Vec<NewEvent> = (0..new_events)
        .map(|i| verification(&ws, clock.as_ref(), i))
        .collect();
    store.append_events(batch).await.unwrap();
    let tail = Instant::now();
    let answer = chain_answer::answer(&app, &ws, false).await.unwrap();
    let tail = tail.elapsed();
    assert_eq!(answer.status, CheckStatus::Verified, "{answer:?}");
    assert_eq!(answer.events, new_events as u64);

    let idle = Instant::now();
    let again = chain_answer::answer(&app, &ws, false).await.unwrap();
    let idle = idle.elapsed();
    assert_eq!((again.status, again.events), (CheckStatus::Verified, 0));

    let anchored = Instant::now();
    let against = anchor_check::check(&app, &ws, anchor.clone())
        .await
        .unwrap();
    let anchored = anchored.elapsed();
    assert_eq!(against.status, CheckStatus::Verified, "{against:?}");
    assert_eq!(against.anchor_seq, Some(anchor.seq));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let chain_events = head.seq;
    println!("| what | time | vs whole |");
    println!("|---|---:|---:|");
    println!(
        "| fill {chain_events} events (import) | {:.1} s | |",
        filled.as_secs_f64()
    );
    println!(
        "| whole verification (baseline) | {:.2} s | 1 |",
        whole.as_secs_f64()
    );
    println!(
        "| first answer, no prefix yet ({}) | {:.1} ms | {:.4} |",
        pending_status.as_str(),
        ms(pending),
        pending.as_secs_f64() / whole.as_secs_f64()
    );
    println!(
        "| background first pass (prefix stored every {} events) | {:.2} s | {:.2} |",
        chain_verifier::CHUNK,
        first_pass.as_secs_f64(),
        first_pass.as_secs_f64() / whole.as_secs_f64()
    );
    println!(
        "| answer after {new_events} new events | {:.1} ms | {:.4} |",
        ms(tail),
        tail.as_secs_f64() / whole.as_secs_f64()
    );
    println!(
        "| answer with nothing new | {:.1} ms | {:.4} |",
        ms(idle),
        idle.as_secs_f64() / whole.as_secs_f64()
    );
    println!(
        "| the head's anchor point ({} kept events counted and digested) | {:.1} ms | {:.4} |",
        anchor.kept,
        ms(signing),
        signing.as_secs_f64() / whole.as_secs_f64()
    );
    println!(
        "| answer against that anchor | {:.1} ms | {:.4} |",
        ms(anchored),
        anchored.as_secs_f64() / whole.as_secs_f64()
    );
}
