//! Fuzzing the HTTP surface on the stable toolchain: proptest sends arbitrary bytes, arbitrary
//! JSON and JSON shaped like each endpoint's body (known field names, values of every type),
//! and arbitrary query strings and paths, to `router(state)` over a real in-memory SQLite
//! store. Whatever arrives, the answer is never a `5xx`, the handler never panics, and no
//! answer carries the root key. Every case that names a key or a root key gets a fresh one,
//! so the body reaches validation (a revoked key would answer `409` to every rotation first).
//!
//! CI runs proptest's default 256 cases per target; a longer run is
//! `PROPTEST_CASES=100000 cargo test -p keyward --test api fuzz_http` (see SECURITY.md).

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Method, Request};
use axum::Router;
use keyward_app::SystemClock;
use keyward_app::{bootstrap, Keyward};
use keyward_core::{ApiKey, KeyPrefix, Store};
use keyward_server::router;
use keyward_sqlite::SqliteStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

struct Target {
    app: Router,
    root_key: String,
    rt: tokio::runtime::Runtime,
    /// Numbers the fresh keys and root keys.
    made: std::cell::Cell<u64>,
}

fn target() -> Target {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, root_key) = rt.block_on(async {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let created = bootstrap::create_workspace(&store, &SystemClock, "Fuzz", "bos")
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let state = Keyward::load(store, Arc::new(SystemClock)).await.unwrap();
        // Leak reports read the peer address, which `serve` provides.
        let app = router(state).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
        (app, created.root_key.expose().to_owned())
    });
    let target = Target {
        app,
        root_key,
        rt,
        made: std::cell::Cell::new(0),
    };
    let create = json!({"name": "fuzzed key", "permissions": ["a:b"]});
    let (status, body) = target.rt.block_on(target.call_async(
        Method::POST,
        "/v1/keys",
        create.to_string().into_bytes(),
    ));
    assert_eq!(status, 201, "{body}");
    target
}

impl Target {
    async fn call_async(&self, method: Method, uri: &str, body: Vec<u8>) -> (u16, Value) {
        let Ok(request) = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.root_key))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
        else {
            // Not a request hyper would ever deliver (e.g. an invalid URI).
            return (0, Value::Null);
        };
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&self.root_key),
            "an answer carries the root key"
        );
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Every endpoint that takes a body, as a template over `{id}` (a key) and `{rk}` (a
    /// root key).
    fn body_endpoints(&self) -> Vec<(Method, &'static str)> {
        vec![
            (Method::POST, "/v1/keys"),
            (Method::PATCH, "/v1/keys/{id}"),
            (Method::POST, "/v1/keys/{id}/revoke"),
            (Method::POST, "/v1/keys/{id}/rotate"),
            (Method::POST, "/v1/verify"),
            (Method::POST, "/v1/leaks"),
            (Method::POST, "/v1/root-keys"),
            (Method::POST, "/v1/root-keys/{rk}/revoke"),
            (Method::PATCH, "/v1/workspace"),
            (Method::PUT, "/v1/policy"),
        ]
    }

    /// `template` with a fresh key and root key made for this case where it names one.
    fn fresh(&self, template: &str) -> String {
        let n = self.made.get() + 1;
        self.made.set(n);
        let mut path = template.to_owned();
        if path.contains("{id}") {
            // An earlier case may have set a policy that refuses keys without an expiry.
            let lift = json!({"max_key_lifetime_seconds": null});
            let (status, answer) = self.rt.block_on(self.call_async(
                Method::PUT,
                "/v1/policy",
                lift.to_string().into_bytes(),
            ));
            assert_eq!(status, 200, "{answer}");
        }
        for (slot, uri, body) in [
            (
                "{id}",
                "/v1/keys",
                json!({"name": format!("fuzz target key {n}"), "permissions": ["a:b"]}),
            ),
            (
                "{rk}",
                "/v1/root-keys",
                json!({"name": format!("fuzz target root key {n}"), "permissions": ["keys:read"]}),
            ),
        ] {
            if path.contains(slot) {
                let (status, made) = self.rt.block_on(self.call_async(
                    Method::POST,
                    uri,
                    body.to_string().into_bytes(),
                ));
                assert_eq!(status, 201, "{made}");
                path = path.replace(slot, made["id"].as_str().unwrap());
            }
        }
        path
    }

    fn run(&self, strategy: impl Strategy<Value = (usize, Vec<u8>)>) {
        let endpoints = self.body_endpoints();
        let mut runner = TestRunner::new(Config::default());
        runner
            .run(&strategy, |(which, body)| {
                let (method, template) = &endpoints[which % endpoints.len()];
                let path = self.fresh(template);
                let shown = String::from_utf8_lossy(&body).into_owned();
                let (status, answer) =
                    self.rt
                        .block_on(self.call_async(method.clone(), &path, body));
                prop_assert!(
                    status < 500,
                    "{method} {path} answered {status} to {shown:?}"
                );
                // A fresh key is live: nothing about its state can refuse a rotation.
                prop_assert!(
                    !(template.ends_with("/rotate") && status == 409),
                    "{method} {path} answered 409 to {shown:?}: {answer}"
                );
                Ok(())
            })
            .unwrap();
    }
}

const FIELDS: &[&str] = &[
    "name",
    "permissions",
    "permission",
    "key",
    "keys",
    "expires_at",
    "expires_in",
    "owner_id",
    "metadata",
    "enabled",
    "reason",
    "grace_period_seconds",
    "credits",
    "remaining",
    "refill",
    "amount",
    "interval_seconds",
    "rate_limit",
    "limit",
    "window_seconds",
    "cost",
    "ip_allowlist",
    "origin_allowlist",
    "ip",
    "origin",
    "description",
    "verification_audit",
    "audit_retention_days",
    "max_key_lifetime_seconds",
    "user_agent",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        "[a-z*]{1,6}(:[a-z*]{1,6}){0,2}( (AND|OR) [a-z]{1,4}:[a-z]{1,4})?".prop_map(Value::from),
        Just(Value::from("2026-01-01T00:00:00Z")),
        Just(Value::from("10.0.0.0/8")),
        Just(Value::from("https://example.com")),
        Just(Value::from(i64::MAX)),
        Just(Value::from(-1)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the endpoints' field names and arbitrary values.
fn shaped_body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((proptest::sample::select(FIELDS), json_value()), 0..6).prop_map(
        |fields| {
            let object: Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| ((*k).to_owned(), v))
                .collect();
            Value::Object(object).to_string().into_bytes()
        },
    )
}

#[test]
fn fuzz_http_arbitrary_bytes_to_every_endpoint() {
    target().run((
        any::<usize>(),
        proptest::collection::vec(any::<u8>(), 0..512),
    ));
}

#[test]
fn fuzz_http_arbitrary_json_to_every_endpoint() {
    target().run((
        any::<usize>(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ));
}

#[test]
fn fuzz_http_shaped_json_to_every_endpoint() {
    target().run((any::<usize>(), shaped_body()));
}

const BASES: &[&str] = &[
    "/v1/keys",
    "/v1/audit",
    "/v1/audit/export",
    "/v1/audit/verify",
    "/v1/root-keys",
];

#[test]
fn fuzz_http_arbitrary_paths_and_query_strings() {
    let t = target();
    let key = ApiKey::generate(&KeyPrefix::parse("bos").unwrap()).unwrap();
    let mut runner = TestRunner::new(Config::default());
    let strategy = (
        proptest::sample::select(BASES),
        "[ -~]{0,80}",
        "(/[a-zA-Z0-9_%.~-]{0,20}){0,4}",
        proptest::sample::select(vec![Method::GET, Method::POST, Method::DELETE, Method::PUT]),
    );
    runner
        .run(&strategy, |(base, query, path, method)| {
            let encoded: String = query
                .chars()
                .map(|c| match c {
                    ' ' => "%20".to_owned(),
                    '#' => "%23".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            for uri in [
                format!("{base}?{encoded}"),
                format!("{base}{path}"),
                path.clone(),
            ] {
                let (status, _) =
                    t.rt.block_on(t.call_async(method.clone(), &uri, Vec::new()));
                prop_assert!(status < 500, "{method} {uri} answered {status}");
            }
            Ok(())
        })
        .unwrap();
    // Still sane afterwards: a fresh unknown key is answered, not an error.
    let (status, body) = t.rt.block_on(t.call_async(
        Method::POST,
        "/v1/verify",
        json!({"key": key.expose()}).to_string().into_bytes(),
    ));
    assert_eq!(status, 200, "{body}");
}
