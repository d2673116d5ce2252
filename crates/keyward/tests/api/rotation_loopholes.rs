//! Rotation cannot be used to get more than a key was given: a rotated key and its
//! replacement share one credit balance and one rate-limit window, the replacement obeys the
//! workspace's maximum key lifetime, and the old key's grace period cannot be extended. In
//! process (`router(state)` with `oneshot`, in-memory SQLite, a `ManualClock`).

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
        router: router(state),
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

    /// Creates a key with `extra` fields; returns (plaintext, id).
    async fn create(&self, name: &str, extra: Value) -> (String, String) {
        let mut body = json!({"name": name, "permissions": ["invoices:read"]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, created) = self.call("POST", "/v1/keys", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        Self::key_and_id(&created)
    }

    /// Rotates `id` with a grace period; returns the new (plaintext, id) and the answer.
    async fn rotate(&self, id: &str, grace_period_seconds: u64) -> (String, String, Value) {
        let (status, created) = self
            .call(
                "POST",
                &format!("/v1/keys/{id}/rotate"),
                json!({"grace_period_seconds": grace_period_seconds}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (key, id) = Self::key_and_id(&created);
        (key, id, created)
    }

    fn key_and_id(created: &Value) -> (String, String) {
        (
            created["key"].as_str().unwrap().to_owned(),
            created["id"].as_str().unwrap().to_owned(),
        )
    }

    async fn code(&self, key: &str) -> String {
        let (status, answer) = self.call("POST", "/v1/verify", json!({"key": key})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["code"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_rotated_key_and_its_replacement_share_the_credit_balance() {
    let app = spawn().await;
    let (old, id) = app
        .create(
            "Credited Invoice Sync",
            json!({"credits": {"remaining": 5}}),
        )
        .await;
    assert_eq!(app.code(&old).await, "VALID");
    let (new, _, _) = app.rotate(&id, 3600).await;
    // Four credits are left; both keys spend them, alternately, until they are gone.
    let mut valid = 1;
    for _ in 0..5 {
        for key in [&old, &new] {
            if app.code(key).await == "VALID" {
                valid += 1;
            }
        }
    }
    assert_eq!(valid, 5, "five credits gave {valid} VALID answers");
    assert_eq!(app.code(&new).await, "USAGE_EXCEEDED");
    assert_eq!(app.code(&old).await, "USAGE_EXCEEDED");
}

#[tokio::test]
async fn a_rotated_key_shows_the_balance_it_spends_from() {
    let app = spawn().await;
    let (old, id) = app
        .create("Shown Credit Balance", json!({"credits": {"remaining": 5}}))
        .await;
    let (new, new_id, _) = app.rotate(&id, 3600).await;
    assert_eq!(app.code(&old).await, "VALID");
    assert_eq!(app.code(&new).await, "VALID");
    for path in [format!("/v1/keys/{id}"), format!("/v1/keys/{new_id}")] {
        let (_, shown) = app.call("GET", &path, Value::Null).await;
        assert_eq!(shown["credits"]["remaining"], 3, "{shown}");
    }
    let (_, listed) = app.call("GET", "/v1/keys", Value::Null).await;
    for key in listed["keys"].as_array().unwrap() {
        assert_eq!(key["credits"]["remaining"], 3, "{key}");
    }
}

#[tokio::test]
async fn credits_given_to_the_replacement_after_rotation_bind_the_rotated_key_too() {
    let app = spawn().await;
    let (old, id) = app.create("Uncredited Invoice Sync", json!({})).await;
    let (new, new_id, _) = app.rotate(&id, 3600).await;
    let (status, answer) = app
        .call(
            "PATCH",
            &format!("/v1/keys/{new_id}"),
            json!({"credits": {"remaining": 2}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut valid = 0;
    for _ in 0..3 {
        for key in [&old, &new] {
            if app.code(key).await == "VALID" {
                valid += 1;
            }
        }
    }
    assert_eq!(valid, 2, "two credits gave {valid} VALID answers");
}

#[tokio::test]
async fn a_rotated_key_and_its_replacement_share_one_rate_limit_window() {
    let app = spawn().await;
    let (old, id) = app
        .create(
            "Rate Limited Payroll Export",
            json!({"rate_limit": {"limit": 3, "window_seconds": 60}}),
        )
        .await;
    assert_eq!(app.code(&old).await, "VALID");
    assert_eq!(app.code(&old).await, "VALID");
    let (new, _, _) = app.rotate(&id, 3600).await;
    // One request is left in this window, for the two keys together.
    let mut valid = 2;
    for _ in 0..3 {
        for key in [&new, &old] {
            if app.code(key).await == "VALID" {
                valid += 1;
            }
        }
    }
    assert_eq!(
        valid, 3,
        "a limit of 3 per window gave {valid} VALID answers"
    );
    // The next window is shared as well.
    app.clock.advance(Duration::seconds(60));
    let mut valid = 0;
    for _ in 0..3 {
        for key in [&old, &new] {
            if app.code(key).await == "VALID" {
                valid += 1;
            }
        }
    }
    assert_eq!(valid, 3);
}

#[tokio::test]
async fn a_rate_limit_given_to_the_replacement_after_rotation_binds_the_rotated_key_too() {
    let app = spawn().await;
    let (old, id) = app.create("Unlimited Payroll Export", json!({})).await;
    let (new, new_id, _) = app.rotate(&id, 3600).await;
    let (status, answer) = app
        .call(
            "PATCH",
            &format!("/v1/keys/{new_id}"),
            json!({"rate_limit": {"limit": 2, "window_seconds": 60}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut valid = 0;
    for _ in 0..3 {
        for key in [&old, &new] {
            if app.code(key).await == "VALID" {
                valid += 1;
            }
        }
    }
    assert_eq!(
        valid, 2,
        "a limit of 2 per window gave {valid} VALID answers"
    );
}

#[tokio::test]
async fn rotation_applies_the_workspace_maximum_key_lifetime() {
    let app = spawn().await;
    // Created before the policy, without an expiry.
    let (_, forever) = app.create("Legacy Export Without Expiry", json!({})).await;
    let (_, long, _) = app
        .rotate(
            &app.create("Long Lived Export", json!({"expires_in": 86400}))
                .await
                .1,
            0,
        )
        .await;
    let (status, _) = app
        .call(
            "PUT",
            "/v1/policy",
            json!({"max_key_lifetime_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, rotated) = app.rotate(&forever, 0).await;
    assert_eq!(rotated["expires_at"], "2026-03-01T13:00:00Z");
    let (_, _, rotated) = app.rotate(&long, 0).await;
    assert_eq!(rotated["expires_at"], "2026-03-01T13:00:00Z");
    // An expiry sooner than the policy's is kept.
    let (_, soon) = app
        .create("Soon Expiring Export", json!({"expires_in": 60}))
        .await;
    let (_, _, rotated) = app.rotate(&soon, 0).await;
    assert_eq!(rotated["expires_at"], "2026-03-01T12:01:00Z");
}

#[tokio::test]
async fn a_rotated_key_in_its_grace_period_cannot_be_extended_or_revived() {
    let app = spawn().await;
    let (old, id) = app.create("Rotated Invoice Sender", json!({})).await;
    let (new, _, _) = app.rotate(&id, 600).await;
    for change in [
        json!({"expires_at": null}),
        json!({"expires_in": 86400}),
        json!({"expires_at": "2030-01-01T00:00:00Z"}),
        json!({"enabled": true}),
        json!({"name": "Rotated Invoice Sender Again"}),
    ] {
        let (status, answer) = app.call("PATCH", &format!("/v1/keys/{id}"), change).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["error"]["code"], "conflict", "{answer}");
    }
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["expires_at"], "2026-03-01T12:10:00Z");
    app.clock.advance(Duration::seconds(601));
    assert_eq!(app.code(&old).await, "EXPIRED");
    assert_eq!(app.code(&new).await, "VALID");
}
