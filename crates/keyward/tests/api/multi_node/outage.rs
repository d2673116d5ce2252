//! A node loses its database (a proxy between them is cut: the machine's PostgreSQL keeps
//! serving other tests) or starts without it. Meanwhile `/readyz` says not ready and why,
//! management calls answer `503`, no verification answers `VALID` without its durable event,
//! and every call returns within the store's timeouts; once the database is back the node
//! recovers by itself and nothing acknowledged before the cut is missing.

use super::node::{load, postgres, Node, Shared};
use crate::helpers::tcp_proxy::TcpProxy;
use crate::helpers::Api;
use keyward::startup::open_or_wait;
use keyward_postgres::Timeouts;
use keyward_server::ServeLimits;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Short timeouts, so a cut is noticed quickly.
fn timeouts() -> Timeouts {
    Timeouts {
        acquire: Duration::from_secs(1),
        statement: Duration::from_secs(2),
        idle_in_transaction: Duration::from_secs(5),
        call: Duration::from_secs(3),
        bulk: Duration::from_secs(10),
    }
}

/// Polls `/readyz` every 200 ms until it answers `200`; how long that took. Bounded.
async fn until_ready(api: &Api<'_>) -> Duration {
    let started = Instant::now();
    for _ in 0..150 {
        if api.get("/readyz").await.status.as_u16() == 200 {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not ready 30 s after the database came back");
}

async fn verify_with_action(api: &Api<'_>, key: &str, action: &str) -> crate::helpers::Answer {
    api.post("/v1/verify", &json!({"key": key, "action": action}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_its_database_refuses_with_503_and_recovers_by_itself() {
    let Some(server) = postgres(
        "multi_node::outage::a_node_cut_off_its_database_refuses_with_503_and_recovers_by_itself",
    ) else {
        return;
    };
    let shared = Shared::create(&server).await;
    let proxy = TcpProxy::start(shared.address()).await;
    let state = load(&shared.url_via(proxy.address()), None, timeouts())
        .await
        .expect("loading the node");
    let node = Node::serve(state, TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let api = node.api(&shared.root_key);

    // Acknowledged before the cut: keys created, verifications answered.
    let mut before = Vec::new();
    for name in ["Invoice Export Before Cut", "Payroll Sync Before Cut"] {
        let created = api.new_key(name, &["invoices:read"]).await;
        let action = format!("before.cut.{}", before.len());
        let answer = verify_with_action(&api, &created.key, &action).await;
        assert_eq!(answer.expect(200)["code"], "VALID");
        before.push((created, action));
    }
    api.get("/readyz").await.expect(200);

    proxy.cut();
    let timed = Instant::now();
    let message = api.get("/readyz").await.expect_error(503, "not_ready");
    println!("readyz not ready after {:?}: {message}", timed.elapsed());
    assert!(message.contains("database"), "{message}");

    let timed = Instant::now();
    let refused = api
        .post("/v1/keys", &json!({"name": "Created During The Cut"}))
        .await;
    println!(
        "create refused after {:?}: {}",
        timed.elapsed(),
        refused.text
    );
    assert_eq!(refused.status.as_u16(), 503, "{}", refused.text);

    let timed = Instant::now();
    let refused = verify_with_action(&api, &before[0].0.key, "during.cut").await;
    println!(
        "verification answered after {:?}: {}",
        timed.elapsed(),
        refused.text
    );
    assert_eq!(
        refused.status.as_u16(),
        503,
        "no VALID without its durable event: {}",
        refused.text
    );
    let refused = api.get("/v1/keys").await;
    assert_eq!(refused.status.as_u16(), 503, "{}", refused.text);

    proxy.restore();
    println!(
        "ready again {:?} after the database came back",
        until_ready(&api).await
    );
    let created = api
        .new_key("Created After The Cut", &["invoices:read"])
        .await;
    assert_eq!(api.verify_code(&created.key, None).await, "VALID");
    assert_eq!(api.verify_code(&before[1].0.key, None).await, "VALID");

    // Nothing acknowledged before the cut is missing, and the chain holds.
    for (created, action) in &before {
        api.show_key(&created.id).await.expect(200);
        let events = api.get(&format!("/v1/audit?action={action}")).await;
        let events = events.expect(200)["events"].as_array().unwrap().clone();
        assert_eq!(events.len(), 1, "{action}: {events:?}");
    }
    let refused_event = api.get("/v1/audit?action=during.cut").await;
    assert_eq!(
        refused_event.expect(200)["events"],
        json!([]),
        "a refused verification left no event"
    );
    let check = api.get("/v1/audit/verify").await;
    assert_eq!(check.expect(200)["valid"], true, "{}", check.text);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_started_while_its_database_is_unreachable_starts_when_it_returns() {
    let Some(server) = postgres(
        "multi_node::outage::a_node_started_while_its_database_is_unreachable_starts_when_it_returns",
    ) else {
        return;
    };
    let shared = Shared::create(&server).await;
    let created = {
        let first = Node::start(shared.url(), None).await;
        let created = first
            .api(&shared.root_key)
            .new_key("Made Before The Outage", &["invoices:read"])
            .await;
        first.stop().await;
        created
    };
    let proxy = TcpProxy::start(shared.address()).await;
    proxy.cut();
    let url = shared.url_via(proxy.address());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, mut stopped) = watch::channel(false);
    let starting = tokio::spawn(async move {
        let opened = open_or_wait(
            &listener,
            ServeLimits::default(),
            true,
            || load(&url, None, timeouts()),
            &mut stopped,
        )
        .await;
        (opened, listener)
    });
    let api = Api::at(&address, Some(&shared.root_key));
    api.get("/healthz").await.expect(200);
    let message = api.get("/readyz").await.expect_error(503, "not_ready");
    assert!(message.contains("database"), "{message}");
    let refused = api.verify(&created.key, None).await;
    refused.expect_error(503, "not_ready");
    api.post("/v1/keys", &json!({"name": "Created While Starting"}))
        .await
        .expect_error(503, "not_ready");

    proxy.restore();
    let timed = Instant::now();
    let (opened, listener) = starting.await.unwrap();
    println!("started {:?} after the database came back", timed.elapsed());
    let state = opened.expect("started").expect("not stopped");
    let node = Node::serve(state, listener).await;
    until_ready(&api).await;
    assert_eq!(api.verify_code(&created.key, None).await, "VALID");
    node.stop().await;
}
