//! Usage counters are written as increments: a failed flush is written by the next one, once,
//! and two nodes counting the same key add up in the database instead of overwriting each
//! other.

use crate::audit::router_harness::harness;
use crate::audit::support::STRIPE;
use keyward_app::Keyward;
use keyward_core::Clock;
use std::sync::atomic::Ordering;

async fn stored_count(state: &Keyward, key_id: &str) -> u64 {
    let usage = state.store().key_usage().await.expect("reading usage");
    usage
        .iter()
        .find(|u| u.key_id == key_id)
        .map_or(0, |u| u.verifications)
}

#[tokio::test]
async fn a_failed_usage_flush_is_written_by_the_next_one_exactly_once() {
    let h = harness().await;
    let (id, stripe) = h.new_key(STRIPE, &["invoices:read"]).await;
    for i in 0..3 {
        h.verify(&stripe, "invoices:read", &format!("before-{i}"))
            .await
            .expect(200);
    }
    let store = h.state.store().clone();
    h.fault.store(true, Ordering::SeqCst);
    assert!(h.state.usage().flush(store.as_ref()).await.is_err());
    h.fault.store(false, Ordering::SeqCst);
    for i in 0..2 {
        h.verify(&stripe, "invoices:read", &format!("after-{i}"))
            .await
            .expect(200);
    }
    assert_eq!(h.state.usage().flush(store.as_ref()).await.ok(), Some(1));
    assert_eq!(h.state.usage().flush(store.as_ref()).await.ok(), Some(0));
    assert_eq!(stored_count(&h.state, &id).await, 5);
}

#[tokio::test]
async fn two_nodes_counting_one_key_add_up_in_the_database() {
    let h = harness().await;
    let (id, stripe) = h.new_key(STRIPE, &["invoices:read"]).await;
    // A second node over the same database, loaded after the key was created.
    let other = Keyward::load(h.state.store().clone(), h.clock.clone())
        .await
        .expect("loading a second node");
    let keys = other.store().all_keys().await.expect("reading keys");
    let key = keys.iter().find(|k| k.id == id).expect("the key is stored");
    for _ in 0..4 {
        h.verify(&stripe, "invoices:read", "node-a")
            .await
            .expect(200);
    }
    for _ in 0..7 {
        other.usage().record(key, true, h.clock.now());
    }
    let store = h.state.store().clone();
    h.state
        .usage()
        .flush(store.as_ref())
        .await
        .expect("node A flushes");
    other
        .usage()
        .flush(store.as_ref())
        .await
        .expect("node B flushes");
    assert_eq!(stored_count(&h.state, &id).await, 11);
}
