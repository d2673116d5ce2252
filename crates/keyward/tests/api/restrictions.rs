//! Key restrictions and limits through the real router, in process: `router(state)` driven
//! with `oneshot`, an in-memory SQLite store and a `ManualClock`, so expiry, refills and
//! rate-limit windows are tested by moving the clock, never by sleeping.
//!
//! The Redis test runs when `KEYWARD_REDIS_URL` is set (CI sets it) and says so when skipped
//! (`skip::service_url`).

// A test file: its helpers fail the test loudly rather than return errors.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{Duration, TimeZone, Utc};
use keyward_app::limits::RateLimiter;
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
    store: Arc<dyn Store>,
    root: String,
}

async fn spawn_with(limiter: Option<RateLimiter>) -> App {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ));
    let created = bootstrap::create_workspace(store.as_ref(), clock.as_ref(), "Test", "bos")
        .await
        .unwrap();
    App::load(store, clock, created.root_key.expose().to_owned(), limiter).await
}

async fn spawn() -> App {
    spawn_with(None).await
}

impl App {
    async fn load(
        store: Arc<dyn Store>,
        clock: Arc<ManualClock>,
        root: String,
        limiter: Option<RateLimiter>,
    ) -> App {
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let mut state = Keyward::load(store.clone(), dyn_clock).await.unwrap();
        if let Some(limiter) = limiter {
            state = state.with_limiter(limiter);
        }
        App {
            router: router(state.clone()),
            state,
            clock,
            store,
            root,
        }
    }

    async fn call_as(
        &self,
        root: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {root}"));
        let body = if body.is_null() {
            Body::empty()
        } else {
            req = req.header("content-type", "application/json");
            Body::from(body.to_string())
        };
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        crate::helpers::check_answer(status.as_u16(), &String::from_utf8_lossy(&bytes), &value);
        (status, value)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(&self.root, method, path, body).await
    }

    /// Creates a key with `extra` fields; returns (plaintext, id).
    async fn create(&self, name: &str, extra: Value) -> (String, String) {
        let mut body = json!({"name": name, "permissions": ["invoices:read"]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, created) = self.call("POST", "/v1/keys", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["key"].as_str().unwrap().to_owned(),
            created["id"].as_str().unwrap().to_owned(),
        )
    }

    async fn verify(&self, body: Value) -> Value {
        let (status, answer) = self.call("POST", "/v1/verify", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    async fn code(&self, body: Value) -> String {
        self.verify(body).await["code"].as_str().unwrap().to_owned()
    }

    async fn patch(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", &format!("/v1/keys/{id}"), body).await
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }
}

#[tokio::test]
async fn expires_in_expires_the_key_and_conflicts_with_expires_at() {
    let app = spawn().await;
    let (key, id) = app
        .create("Expiring Payroll Export", json!({"expires_in": 60}))
        .await;
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["expires_at"], "2026-03-01T12:01:00Z");
    app.advance(59);
    assert_eq!(app.code(json!({"key": key})).await, "VALID");
    app.advance(1);
    assert_eq!(app.code(json!({"key": key})).await, "EXPIRED");
    // Extending by update brings it back.
    let (status, updated) = app.patch(&id, json!({"expires_in": 3600})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(app.code(json!({"key": key})).await, "VALID");

    let (status, err) = app
        .call(
            "POST",
            "/v1/keys",
            json!({"name": "Both Expiries Given", "expires_in": 5, "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not both"));
    let (status, _) = app
        .call(
            "POST",
            "/v1/keys",
            json!({"name": "Zero Expiry Key Test", "expires_in": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn disabling_is_reversible() {
    let app = spawn().await;
    let (key, id) = app.create("Stripe Invoice Sending", json!({})).await;
    app.patch(&id, json!({"enabled": false})).await;
    assert_eq!(app.code(json!({"key": key})).await, "DISABLED");
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["status"], "disabled");
    app.patch(&id, json!({"enabled": true})).await;
    assert_eq!(app.code(json!({"key": key})).await, "VALID");
}

#[tokio::test]
async fn network_binding_answers_forbidden_outside_the_allowlists() {
    let app = spawn().await;
    let (key, id) = app
        .create(
            "Xero Sync From Office",
            json!({"ip_allowlist": ["203.0.113.0/24", "2001:db8::/32"],
                   "origin_allowlist": ["https://app.example.com"]}),
        )
        .await;
    let ok = json!({"key": key, "ip": "203.0.113.9", "origin": "https://app.example.com"});
    assert_eq!(app.code(ok).await, "VALID");
    for (ip, origin) in [
        (Some("198.51.100.1"), Some("https://app.example.com")),
        (Some("203.0.113.9"), Some("https://evil.example.com")),
        (None, Some("https://app.example.com")),
        (Some("203.0.113.9"), None),
        (Some("garbage"), Some("https://app.example.com")),
    ] {
        let answer = app
            .verify(json!({"key": key, "ip": ip, "origin": origin}))
            .await;
        assert_eq!(answer["code"], "FORBIDDEN", "{ip:?} {origin:?}");
        assert_eq!(answer["valid"], false);
    }
    let v6 = json!({"key": key, "ip": "2001:db8::7", "origin": "https://APP.example.com:443"});
    assert_eq!(app.code(v6).await, "VALID");
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(
        shown["ip_allowlist"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    assert_eq!(
        shown["origin_allowlist"],
        json!(["https://app.example.com"])
    );
    // [] removes a restriction.
    app.patch(&id, json!({"ip_allowlist": []})).await;
    let no_ip = json!({"key": key, "origin": "https://app.example.com"});
    assert_eq!(app.code(no_ip).await, "VALID");
}

#[tokio::test]
async fn invalid_cidrs_and_origins_are_a_400() {
    let app = spawn().await;
    for extra in [
        json!({"ip_allowlist": ["10.0.0.0/33"]}),
        json!({"ip_allowlist": ["10.1.2.3/8"]}),
        json!({"ip_allowlist": ["example.com"]}),
        json!({"origin_allowlist": ["app.example.com"]}),
        json!({"origin_allowlist": ["https://app.example.com/path"]}),
        json!({"credits": {"remaining": 1, "refill": {"amount": 0, "interval_seconds": 60}}}),
        json!({"rate_limit": {"limit": 0, "window_seconds": 60}}),
        json!({"rate_limit": {"limit": 1, "window_seconds": 0}}),
    ] {
        let mut body = json!({"name": "Validation Of Restrictions"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, err) = app.call("POST", "/v1/keys", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra} → {err}");
        assert_eq!(err["error"]["code"], "bad_request");
    }
    let (_, id) = app.create("Valid Then Invalid Update", json!({})).await;
    let (status, err) = app.patch(&id, json!({"ip_allowlist": ["300.0.0.1"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ip_allowlist"));
}

#[tokio::test]
async fn credits_are_spent_refilled_and_shown() {
    let app = spawn().await;
    let (key, id) = app
        .create(
            "Metered Invoice Import",
            json!({"credits": {"remaining": 5, "refill": {"amount": 5, "interval_seconds": 3600}}}),
        )
        .await;
    let answer = app.verify(json!({"key": key, "cost": 3})).await;
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["credits"], 2);
    let answer = app.verify(json!({"key": key, "cost": 3})).await;
    assert_eq!(answer["code"], "USAGE_EXCEEDED");
    assert_eq!(answer["credits"], 2, "a refused spend takes nothing");
    let answer = app.verify(json!({"key": key, "cost": 0})).await;
    assert_eq!(
        (answer["code"].as_str(), answer["credits"].as_u64()),
        (Some("VALID"), Some(2))
    );
    assert_eq!(app.verify(json!({"key": key})).await["credits"], 1);
    assert_eq!(app.verify(json!({"key": key})).await["credits"], 0);
    assert_eq!(app.code(json!({"key": key})).await, "USAGE_EXCEEDED");
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["credits"]["remaining"], 0);
    assert_eq!(shown["credits"]["next_refill_at"], "2026-03-01T13:00:00Z");
    // One millisecond before the boundary: still empty. On it: reset to the amount.
    app.clock
        .advance(Duration::seconds(3600) - Duration::milliseconds(1));
    assert_eq!(app.code(json!({"key": key})).await, "USAGE_EXCEEDED");
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(app.verify(json!({"key": key})).await["credits"], 4);
    // Three and a half intervals later the view shows the reset balance without a verify.
    app.advance(3 * 3600 + 1800);
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["credits"]["remaining"], 5);
    assert_eq!(shown["credits"]["next_refill_at"], "2026-03-01T17:00:00Z");
    // null removes the credit limit; an update of other fields keeps the balance.
    app.patch(&id, json!({"credits": {"remaining": 1}})).await;
    app.patch(&id, json!({"description": "changed"})).await;
    assert_eq!(app.verify(json!({"key": key})).await["credits"], 0);
    app.patch(&id, json!({"credits": null})).await;
    let answer = app.verify(json!({"key": key})).await;
    assert_eq!(answer["code"], "VALID");
    assert!(answer.get("credits").is_none());
    let (status, _) = app
        .call(
            "POST",
            "/v1/verify",
            json!({"key": key, "cost": 1u64 << 60}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_hundred_concurrent_verifies_spend_exactly_ten_credits() {
    let app = Arc::new(spawn().await);
    let (key, id) = app
        .create(
            "Concurrent Spend Check",
            json!({"credits": {"remaining": 10}}),
        )
        .await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (app, key) = (app.clone(), key.clone());
        tasks.push(tokio::spawn(
            async move { app.code(json!({"key": key})).await },
        ));
    }
    let mut valid = 0;
    let mut exceeded = 0;
    for task in tasks {
        match task.await.unwrap().as_str() {
            "VALID" => valid += 1,
            "USAGE_EXCEEDED" => exceeded += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((valid, exceeded), (10, 90));
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["credits"]["remaining"], 0);
}

#[tokio::test]
async fn rate_limits_refuse_with_the_time_until_reset() {
    let app = spawn().await;
    let (key, id) = app
        .create(
            "Rate Limited Webhook",
            json!({"rate_limit": {"limit": 3, "window_seconds": 10}}),
        )
        .await;
    app.advance(2); // 12:00:02, 8 s before the window ends
    for remaining in [2, 1, 0] {
        let answer = app.verify(json!({"key": key})).await;
        assert_eq!(answer["code"], "VALID");
        assert_eq!(answer["rate_limit"]["remaining"], remaining);
        assert_eq!(answer["rate_limit"]["limit"], 3);
    }
    let answer = app.verify(json!({"key": key})).await;
    assert_eq!(answer["code"], "RATE_LIMITED");
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["rate_limit"]["reset"], "2026-03-01T12:00:10Z");
    assert_eq!(answer["rate_limit"]["reset_after_ms"], 8000);
    app.advance(8);
    assert_eq!(app.code(json!({"key": key})).await, "VALID");
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(
        shown["rate_limit"],
        json!({"limit": 3, "window_seconds": 10})
    );
    app.patch(&id, json!({"rate_limit": null})).await;
    for _ in 0..5 {
        assert_eq!(app.code(json!({"key": key})).await, "VALID");
    }
}

#[tokio::test]
async fn checks_run_in_the_documented_order_and_only_a_valid_decision_spends() {
    let app = spawn().await;
    let (key, id) = app
        .create(
            "Everything Restricted Key",
            json!({"ip_allowlist": ["10.0.0.0/8"], "credits": {"remaining": 2},
                   "rate_limit": {"limit": 1, "window_seconds": 60}, "expires_in": 600}),
        )
        .await;
    let inside = |permission: &str| json!({"key": key, "ip": "10.0.0.1", "permission": permission});
    // FORBIDDEN before INSUFFICIENT_PERMISSIONS; neither spends a rate-limit slot or credits.
    let outside = json!({"key": key, "ip": "192.0.2.1", "permission": "payroll:read"});
    assert_eq!(app.code(outside).await, "FORBIDDEN");
    assert_eq!(
        app.code(inside("payroll:read")).await,
        "INSUFFICIENT_PERMISSIONS"
    );
    let answer = app.verify(inside("invoices:read")).await;
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["credits"], 1);
    assert_eq!(answer["rate_limit"]["remaining"], 0);
    // The rate limit comes before credits, and a denied rate limit spends nothing.
    for _ in 0..3 {
        assert_eq!(app.code(inside("invoices:read")).await, "RATE_LIMITED");
    }
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(shown["credits"]["remaining"], 1);
    // DISABLED before FORBIDDEN; EXPIRED before DISABLED; REVOKED before EXPIRED.
    app.patch(&id, json!({"enabled": false})).await;
    assert_eq!(
        app.code(json!({"key": key, "ip": "192.0.2.1"})).await,
        "DISABLED"
    );
    app.advance(600);
    assert_eq!(app.code(json!({"key": key})).await, "EXPIRED");
    app.call("POST", &format!("/v1/keys/{id}/revoke"), json!({}))
        .await;
    assert_eq!(app.code(json!({"key": key})).await, "REVOKED");
    let (_, shown) = app
        .call("GET", &format!("/v1/keys/{id}"), Value::Null)
        .await;
    assert_eq!(
        shown["credits"]["remaining"], 1,
        "no refused verification spent"
    );
    // Checksum and existence come first of all.
    let mut bad = key.clone();
    bad.pop();
    bad.push(if key.ends_with('0') { '1' } else { '0' });
    assert_eq!(app.code(json!({"key": bad})).await, "NOT_FOUND");
}

#[tokio::test]
async fn a_workspace_policy_caps_key_lifetime() {
    let app = spawn().await;
    let (status, policy) = app.call("GET", "/v1/policy", Value::Null).await;
    assert_eq!(
        (status, policy),
        (StatusCode::OK, json!({"max_key_lifetime_seconds": null}))
    );
    let (status, policy) = app
        .call(
            "PUT",
            "/v1/policy",
            json!({"max_key_lifetime_seconds": 86400}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let (status, err) = app
        .call("POST", "/v1/keys", json!({"name": "Never Expiring Key"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("policy requires every key to expire"),
        "{message}"
    );
    let (status, err) = app
        .call(
            "POST",
            "/v1/keys",
            json!({"name": "Too Long Lived Key", "expires_in": 86401}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (_, id) = app
        .create("Short Lived Export", json!({"expires_in": 3600}))
        .await;
    let (status, _) = app.patch(&id, json!({"expires_at": null})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "clearing the expiry is refused"
    );
    let (status, _) = app.patch(&id, json!({"expires_in": 90000})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.patch(&id, json!({"expires_in": 80000})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call("PUT", "/v1/policy", json!({"max_key_lifetime_seconds": 0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Only a root key holding policy:write may change the policy.
    let (status, limited) = app
        .call(
            "POST",
            "/v1/root-keys",
            json!({"name": "Key Creating Robot", "permissions": ["keys:write", "keys:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{limited}");
    let limited = limited["key"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call_as(
            &limited,
            "PUT",
            "/v1/policy",
            json!({"max_key_lifetime_seconds": null}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(&limited, "GET", "/v1/policy", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Lifting the policy lets keys live forever again.
    app.call(
        "PUT",
        "/v1/policy",
        json!({"max_key_lifetime_seconds": null}),
    )
    .await;
    app.create("Forever Key After Policy", json!({})).await;
}

#[tokio::test]
async fn unreachable_redis_fails_closed_for_rate_limited_keys_only() {
    let limiter = RateLimiter::from_config(Some("redis://127.0.0.1:1")).unwrap();
    let app = spawn_with(Some(limiter)).await;
    let (limited, _) = app
        .create(
            "Redis Dependent Key",
            json!({"rate_limit": {"limit": 5, "window_seconds": 1}}),
        )
        .await;
    let (plain, _) = app.create("Redis Independent Key", json!({})).await;
    let (status, err) = app
        .call("POST", "/v1/verify", json!({"key": limited}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{err}");
    assert_eq!(err["error"]["code"], "unavailable");
    assert!(!err.to_string().contains(&limited));
    assert_eq!(app.code(json!({"key": plain})).await, "VALID");
    // The failed counter operation is counted; the refused verification has no verify code.
    let metrics = app.state.render_metrics();
    assert!(
        metrics.contains("keyward_rate_limit_backend_errors_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("keyward_verifications_total{code=\"VALID\"} 1\n"));
    assert!(RateLimiter::from_config(Some("not a url")).is_err());
}

#[tokio::test]
async fn two_servers_share_one_rate_limit_through_redis() {
    let Some(url) = crate::skip::service_url(
        "KEYWARD_REDIS_URL",
        "restrictions::two_servers_share_one_rate_limit_through_redis",
        "set it (e.g. redis://127.0.0.1:6379) to run the Redis rate-limit test",
    ) else {
        return;
    };
    let a = spawn_with(Some(RateLimiter::from_config(Some(&url)).unwrap())).await;
    let (key, _) = a
        .create(
            "Shared Limit Across Nodes",
            json!({"rate_limit": {"limit": 4, "window_seconds": 60}}),
        )
        .await;
    // A second node on the same database, with its own index and its own Redis connection.
    let b = App::load(
        a.store.clone(),
        a.clock.clone(),
        a.root.clone(),
        Some(RateLimiter::from_config(Some(&url)).unwrap()),
    )
    .await;
    let mut codes = Vec::new();
    for node in [&a, &b, &a, &b, &a, &b] {
        let answer = node.verify(json!({"key": key})).await;
        codes.push(answer["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        codes,
        [
            "VALID",
            "VALID",
            "VALID",
            "VALID",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ]
    );
    let answer = b.verify(json!({"key": key})).await;
    assert_eq!(answer["rate_limit"]["remaining"], 0);
    a.advance(60);
    assert_eq!(b.code(json!({"key": key})).await, "VALID");
}
