//! Safety advice end to end: generated verification traffic makes items appear on
//! `GET /v1/keys/{id}` and in `GET /v1/advice`, time (a `ManualClock`) makes them clear, a
//! dismissal holds until the evidence changes, unused keys are disabled automatically and
//! reversibly, and no key a caller wrote into its verifications shows in the advice. In
//! process (`router(state)` with `oneshot`, in-memory SQLite).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{Duration, TimeZone, Utc};
use keyward_app::{bootstrap, Keyward};
use keyward_core::{Clock, ManualClock, Store};
use keyward_server::router;
use keyward_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

struct App {
    router: Router,
    state: Keyward,
    clock: Arc<ManualClock>,
    root: String,
}

async fn spawn() -> App {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ));
    let created = bootstrap::create_workspace(store.as_ref(), clock.as_ref(), "Test", "bos")
        .await
        .unwrap();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let state = Keyward::load(store, dyn_clock).await.unwrap();
    App {
        router: router(state.clone()),
        state,
        clock,
        root: created.root_key.expose().to_owned(),
    }
}

impl App {
    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.root))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create(&self, name: &str, permissions: Value) -> (String, String) {
        let (status, created) = self
            .call(
                "POST",
                "/v1/keys",
                json!({"name": name, "permissions": permissions}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["key"].as_str().unwrap().to_owned(),
            created["id"].as_str().unwrap().to_owned(),
        )
    }

    async fn verify(&self, key: &str, ip: &str, permission: Option<&str>) {
        let (status, answer) = self
            .call(
                "POST",
                "/v1/verify",
                json!({"key": key, "ip": ip, "user_agent": "billing/1.0", "permission": permission}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["valid"], json!(true), "{answer}");
    }

    /// The codes of the key's advice as `GET /v1/keys/{id}` shows it.
    async fn codes(&self, id: &str) -> Vec<String> {
        let (status, key) = self
            .call("GET", &format!("/v1/keys/{id}"), json!(null))
            .await;
        assert_eq!(status, StatusCode::OK, "{key}");
        key["advice"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The workspace's list after a sweep, as (key id, code).
    async fn listed(&self) -> Vec<(String, String)> {
        self.state.sweep_advice_pass().await.unwrap();
        let (status, list) = self.call("GET", "/v1/advice", json!(null)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["key_id"].as_str().unwrap().to_owned(),
                    i["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn kinds(&self) -> Vec<String> {
        let (_, page) = self.call("GET", "/v1/audit?limit=100", json!(null)).await;
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn a_key_verified_from_many_networks_is_shared_until_the_window_passes() {
    let app = spawn().await;
    let (key, id) = app.create("Stripe Invoice Sending", json!([])).await;
    let (_, quiet) = app.create("Payroll Export Job", json!([])).await;
    for net in 0..7 {
        app.verify(&key, &format!("203.0.{net}.10"), None).await;
    }
    app.state.flush_advice_observations().await.unwrap();
    assert_eq!(app.codes(&id).await, vec!["shared_key"]);
    assert_eq!(app.codes(&quiet).await, Vec::<String>::new());
    assert_eq!(app.listed().await, vec![(id.clone(), "shared_key".into())]);
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    let item = &shown["advice"][0];
    assert_eq!(item["severity"], json!("warning"));
    assert_eq!(item["evidence"]["networks"], json!(7));
    assert!(item["message"].as_str().unwrap().contains("7 networks"));
    // A week later the window holds none of them.
    app.clock.advance(Duration::days(8));
    assert!(!app.codes(&id).await.contains(&"shared_key".to_owned()));
    assert!(app
        .listed()
        .await
        .iter()
        .all(|(_, code)| code != "shared_key"));
}

#[tokio::test]
async fn permissions_never_needed_and_wildcards_are_named_with_the_narrower_set() {
    let app = spawn().await;
    let (key, id) = app
        .create(
            "Stripe Invoice Sending",
            json!(["invoices:*", "refunds:write"]),
        )
        .await;
    for _ in 0..3 {
        app.verify(&key, "203.0.113.1", Some("invoices:read")).await;
    }
    app.state.flush_advice_observations().await.unwrap();
    assert!(
        app.codes(&id).await.is_empty(),
        "not judged before 30 days of use"
    );
    app.clock.advance(Duration::days(20));
    app.verify(&key, "203.0.113.1", Some("invoices:read")).await;
    app.state.flush_advice_observations().await.unwrap();
    app.clock.advance(Duration::days(11));
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    let items = shown["advice"].as_array().unwrap();
    let unused = items
        .iter()
        .find(|i| i["code"] == "unused_permissions")
        .unwrap();
    assert_eq!(unused["evidence"]["unused"], json!(["refunds:write"]));
    let wide = items
        .iter()
        .find(|i| i["code"] == "wide_permissions")
        .unwrap();
    assert_eq!(
        wide["evidence"]["narrower"],
        json!(["invoices:read", "refunds:write"])
    );
    // Narrowed as advised, both clear.
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/v1/keys/{id}"),
            json!({"permissions": ["invoices:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.codes(&id).await.is_empty());
}

#[tokio::test]
async fn a_dismissed_item_stays_hidden_until_its_evidence_changes_and_is_audited() {
    let app = spawn().await;
    let (key, id) = app.create("Stripe Invoice Sending", json!([])).await;
    app.clock.advance(Duration::days(91));
    assert_eq!(app.codes(&id).await, vec!["stale"]);
    let (status, body) = app
        .call(
            "POST",
            &format!("/v1/keys/{id}/advice/stale/dismiss"),
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["code"], json!("stale"));
    assert!(app.codes(&id).await.is_empty());
    assert!(app.listed().await.is_empty());
    assert!(app.kinds().await.contains(&"advice.dismissed".to_owned()));
    // Nothing left to dismiss; an unknown code is a 400.
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/keys/{id}/advice/stale/dismiss"),
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .call(
            "POST",
            &format!("/v1/keys/{id}/advice/nonsense/dismiss"),
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Used, then unused for 90 days again: new evidence, the item is back.
    app.verify(&key, "203.0.113.1", None).await;
    app.clock.advance(Duration::days(91));
    assert_eq!(app.codes(&id).await, vec!["stale"]);
}

#[tokio::test]
async fn unused_keys_are_disabled_automatically_and_enabling_again_restarts_the_count() {
    let app = spawn().await;
    let (_, id) = app.create("Stripe Invoice Sending", json!([])).await;
    let (status, settings) = app
        .call(
            "PUT",
            "/v1/advice/settings",
            json!({"auto_disable_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["stale_days"], json!(90), "left out: the default");
    let status_of = |key: Value| key["status"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::days(29));
    app.listed().await;
    let (_, key) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert_eq!(status_of(key), "active");
    app.clock.advance(Duration::days(1));
    app.listed().await;
    let (_, key) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert_eq!(status_of(key), "disabled");
    assert!(app.kinds().await.contains(&"key.auto_disabled".to_owned()));
    // Enabled again: not disabled again until 30 more days without use.
    let (status, _) = app
        .call("PATCH", &format!("/v1/keys/{id}"), json!({"enabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::days(29));
    app.listed().await;
    let (_, key) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert_eq!(status_of(key), "active");
    app.clock.advance(Duration::days(1));
    app.listed().await;
    let (_, key) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert_eq!(status_of(key), "disabled");
}

#[tokio::test]
async fn settings_are_checked_and_expiry_and_name_advice_follow_them() {
    let app = spawn().await;
    let (status, body) = app
        .call("PUT", "/v1/advice/settings", json!({"stale_days": 0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .call("PUT", "/v1/advice/settings", json!({"bogus": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, id) = app.create("Billing Backend Server", json!([])).await;
    assert!(app.codes(&id).await.is_empty());
    let (status, _) = app
        .call(
            "PUT",
            "/v1/advice/settings",
            json!({"recommend_expiry": true, "generic_names": ["billing", "backend", "server"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.codes(&id).await, vec!["no_expiry", "generic_name"]);
    assert!(app
        .kinds()
        .await
        .contains(&"advice.settings_updated".to_owned()));
    let soon = (app.clock.now() + Duration::days(5)).to_rfc3339();
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/v1/keys/{id}"),
            json!({"expires_at": soon}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.codes(&id).await, vec!["expiring_soon", "generic_name"]);
}

#[tokio::test]
async fn a_key_used_only_through_another_node_is_not_disabled_as_unused() {
    let app = spawn().await;
    let (_, id) = app.create("Stripe Invoice Sending", json!([])).await;
    let (status, _) = app
        .call(
            "PUT",
            "/v1/advice/settings",
            json!({"auto_disable_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::days(40));
    // Another node observed a verification yesterday and merged it into storage; this node's
    // usage counters never saw it.
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    let workspace = shown["workspace_id"].as_str().unwrap();
    let mut seen = keyward_core::advice::KeyObservations::new(workspace, &id);
    seen.record(&keyward_core::advice::Sighting::new(
        app.clock.now() - Duration::days(1),
        Some("203.0.113.1"),
        None,
        None,
        None,
    ));
    app.state
        .store()
        .put_key_observations(&[seen])
        .await
        .unwrap();
    app.listed().await;
    let (_, key) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert_eq!(key["status"], json!("active"));
    // Thirty days after that use, it is.
    app.clock.advance(Duration::days(30));
    app.listed().await;
    let (_, key) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert_eq!(key["status"], json!("disabled"));
}

/// Advice carries what verifications showed (networks, counts), never what a caller wrote in
/// them: a key pasted into the user agent of many verifications appears nowhere in the
/// advice list or on the key's page, in plaintext, by its secret part or by its digest.
#[tokio::test]
async fn advice_never_carries_a_key_a_caller_wrote_into_its_verifications() {
    use sha2::{Digest, Sha256};
    let app = spawn().await;
    let (key, id) = app
        .create("Stripe Invoice Sending", json!(["invoices:*"]))
        .await;
    let (pasted, _) = app.create("Payroll Export Job", json!([])).await;
    for n in 0..8 {
        let request = json!({
            "key": key,
            "ip": format!("198.51.{n}.7"),
            "user_agent": format!("sync/{n} (token {pasted})"),
            "origin": format!("https://shop{n}.example.com"),
            "permission": "invoices:read",
        });
        let (status, answer) = app.call("POST", "/v1/verify", request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["valid"], json!(true), "{answer}");
    }
    app.state.flush_advice_observations().await.unwrap();
    assert!(app
        .listed()
        .await
        .contains(&(id.clone(), "shared_key".to_owned())));
    let (_, list) = app.call("GET", "/v1/advice", json!(null)).await;
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), json!(null))
        .await;
    assert!(!shown["advice"].as_array().unwrap().is_empty(), "{shown}");
    for text in [list.to_string(), shown["advice"].to_string()] {
        for secret in [&pasted, &key] {
            let (_, body) = secret.rsplit_once('_').unwrap();
            let digest = hex::encode(Sha256::digest(secret.as_bytes()));
            assert!(!text.contains(secret.as_str()), "{text}");
            assert!(!text.contains(body), "{text}");
            assert!(!text.to_ascii_lowercase().contains(&digest), "{text}");
        }
    }
}
