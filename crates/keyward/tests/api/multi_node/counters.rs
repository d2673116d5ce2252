//! Counters that add up across nodes: concurrent spends of one key's credits through two
//! nodes grant exactly its balance; both nodes' usage counts add up in the database; a rate
//! limit kept in Redis holds for both nodes together.

use super::node::{postgres, Node, Shared};
use futures_util::future::join_all;
use serde_json::json;
use std::collections::BTreeMap;

/// Verifications of `key` sent at once, alternately through each node; each answer's code.
async fn fire(nodes: &[&Node], root_key: &str, key: &str, count: usize) -> BTreeMap<String, usize> {
    let apis: Vec<_> = nodes.iter().map(|n| n.api(root_key)).collect();
    let answers = join_all((0..count).map(|i| {
        let api = &apis[i % apis.len()];
        async move { api.verify_code(key, None).await }
    }))
    .await;
    let mut codes = BTreeMap::new();
    for code in answers {
        *codes.entry(code).or_insert(0) += 1;
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spends_through_two_nodes_grant_exactly_the_balance() {
    let Some(server) = postgres(
        "multi_node::counters::concurrent_spends_through_two_nodes_grant_exactly_the_balance",
    ) else {
        return;
    };
    let shared = Shared::create(&server).await;
    let a = Node::start(shared.url(), None).await;
    let key = a
        .api(&shared.root_key)
        .create_key_ok(&json!({"name": "Metered Billing Export", "credits": {"remaining": 37}}))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let b = Node::start(shared.url(), None).await;
    let codes = fire(&[&a, &b], &shared.root_key, &key, 120).await;
    println!("120 concurrent spends of a balance of 37 through two nodes: {codes:?}");
    assert_eq!(codes.get("VALID"), Some(&37), "{codes:?}");
    assert_eq!(codes.get("USAGE_EXCEEDED"), Some(&83), "{codes:?}");
    let shown = b.api(&shared.root_key).verify(&key, None).await;
    assert_eq!(shown.expect(200)["code"], "USAGE_EXCEEDED");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_counted_on_two_nodes_adds_up_in_the_database() {
    let Some(server) =
        postgres("multi_node::counters::usage_counted_on_two_nodes_adds_up_in_the_database")
    else {
        return;
    };
    let shared = Shared::create(&server).await;
    let a = Node::start(shared.url(), None).await;
    let created = a
        .api(&shared.root_key)
        .new_key("Warehouse Sync Integration", &["stock:read"])
        .await;
    let b = Node::start(shared.url(), None).await;
    // Node A flushes between its two bursts, node B once at the end: what each wrote must add
    // to what the other wrote, not replace it.
    fire(&[&a], &shared.root_key, &created.key, 11).await;
    a.flush_usage().await;
    fire(&[&b], &shared.root_key, &created.key, 17).await;
    fire(&[&a], &shared.root_key, &created.key, 5).await;
    a.flush_usage().await;
    b.flush_usage().await;
    // A third node loads what the database holds.
    let c = Node::start(shared.url(), None).await;
    let shown = c.api(&shared.root_key).show_key(&created.id).await;
    let body = shown.expect(200);
    assert_eq!(body["verification_count"], 33, "{body}");
    assert!(body["last_used_at"].is_string(), "{body}");
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_in_redis_holds_for_two_nodes_together() {
    let test = "multi_node::counters::a_rate_limit_in_redis_holds_for_two_nodes_together";
    let Some(server) = postgres(test) else {
        return;
    };
    let Some(redis) = crate::skip::service_url(
        "KEYWARD_REDIS_URL",
        test,
        "set it (e.g. redis://127.0.0.1:6379) to run the shared rate-limit test",
    ) else {
        return;
    };
    let shared = Shared::create(&server).await;
    let a = Node::start(shared.url(), Some(&redis)).await;
    let window_seconds = 3600;
    let key = a
        .api(&shared.root_key)
        .create_key_ok(&json!({
            "name": "Partner Catalogue Feed",
            "rate_limit": {"limit": 12, "window_seconds": window_seconds},
        }))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let b = Node::start(shared.url(), Some(&redis)).await;
    let window = || chrono::Utc::now().timestamp() / window_seconds;
    let before = window();
    let codes = fire(&[&a, &b], &shared.root_key, &key, 90).await;
    let windows = u64::try_from(window() - before + 1).unwrap();
    println!("90 concurrent verifications, limit 12 per window, two nodes, {windows} window(s): {codes:?}");
    let valid = codes.get("VALID").copied().unwrap_or(0);
    if windows == 1 {
        assert_eq!(valid, 12, "{codes:?}");
    } else {
        assert!(
            valid <= 12 * 2,
            "a burst across a window boundary: {codes:?}"
        );
    }
    assert_eq!(
        valid + codes.get("RATE_LIMITED").copied().unwrap_or(0),
        90,
        "{codes:?}"
    );
    a.stop().await;
    b.stop().await;
}
