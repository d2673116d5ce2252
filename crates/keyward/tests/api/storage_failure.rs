//! Storage failures on the production path: the file-backed SQLite store with its audit
//! journal, as `keyward serve` opens it, driven in process through `router(state)`. The
//! database is broken from another connection (the audit chain's heads table renamed away, as
//! a damaged file would fail) and the journal is small, so that it fills:
//! - every management write answers `503` and changes nothing;
//! - verifications are answered while the journal can hold their events, then `503` once it
//!   is full; none is answered unrecorded;
//! - once the database is mended, everything answered is in the audit trail exactly once,
//!   nothing refused is, and the chain verifies.

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use keyward_app::SystemClock;
use keyward_app::{bootstrap, Keyward};
use keyward_core::Store;
use keyward_server::router;
use keyward_sqlite::{JournalOptions, SqliteStore};
use serde_json::{json, Value};
use sqlx::Connection;
use std::sync::Arc;
use tower::ServiceExt;

struct Harness {
    app: Router,
    root_key: String,
    db_url: String,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let db_url = format!("sqlite://{}", db.display());
    let store = SqliteStore::connect(&db_url).await.unwrap();
    store.migrate().await.unwrap();
    let created = bootstrap::create_workspace(&store, &SystemClock, "Failing disk", "bos")
        .await
        .unwrap();
    // Two 64 KiB segments: a few hundred events fill the journal.
    let options = JournalOptions {
        segment_bytes: 64 << 10,
        max_segments: 2,
    };
    let store = store
        .with_audit_journal(&SqliteStore::default_journal_dir(&db), options)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let state = Keyward::load(store, Arc::new(SystemClock)).await.unwrap();
    Harness {
        app: router(state),
        root_key: created.root_key.expose().to_owned(),
        db_url,
        _dir: dir,
    }
}

impl Harness {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.root_key))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
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

    async fn verify(&self, key: &str, resource: &str) -> (u16, Value) {
        let body = json!({"key": key, "permission": "invoices:read", "resource": resource});
        self.call(Method::POST, "/v1/verify", Some(body)).await
    }

    /// Renames the audit chain's heads table (`away`) or back, from another connection.
    async fn break_database(&self, away: bool) {
        let mut other = sqlx::SqliteConnection::connect(&self.db_url).await.unwrap();
        let sql = if away {
            "ALTER TABLE audit_heads RENAME TO audit_heads_away"
        } else {
            "ALTER TABLE audit_heads_away RENAME TO audit_heads"
        };
        sqlx::query(sql).execute(&mut other).await.unwrap();
        other.close().await.unwrap();
    }

    /// The resources of the workspace's `key.verified` events (every page).
    async fn verified_resources(&self) -> Vec<String> {
        let mut resources = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/v1/audit?kind=key.verified&limit=1000{cursor}");
            let (status, page) = self.call(Method::GET, &path, None).await;
            assert_eq!(status, 200, "{page}");
            for event in page["events"].as_array().unwrap() {
                resources.push(event["resource"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return resources,
            }
        }
    }
}

/// `503` with the stable error body, and nothing of the cause.
#[track_caller]
fn assert_unavailable(what: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 503, "{what}: {body}");
    assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    assert!(
        !body.to_string().contains("audit_heads"),
        "{what} names the cause: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_database_and_a_full_journal_answer_503_and_lose_nothing() {
    let h = harness().await;
    let (status, created) = h
        .call(
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "Stripe Invoice Sending Integration", "permissions": ["invoices:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (id, key) = (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    );
    let (_, before) = h.call(Method::GET, &format!("/v1/keys/{id}"), None).await;

    h.break_database(true).await;
    let writes = [
        (
            Method::POST,
            "/v1/keys".to_owned(),
            json!({"name": "Xero Payroll Sync"}),
        ),
        (
            Method::PATCH,
            format!("/v1/keys/{id}"),
            json!({"name": "Stripe Invoice Sync EU"}),
        ),
        (Method::POST, format!("/v1/keys/{id}/revoke"), json!({})),
        (Method::POST, format!("/v1/keys/{id}/rotate"), json!({})),
        (
            Method::POST,
            "/v1/root-keys".to_owned(),
            json!({"name": "Audit Reader Root Key", "permissions": ["audit:read"]}),
        ),
        (
            Method::PATCH,
            "/v1/workspace".to_owned(),
            json!({"verification_audit": "none"}),
        ),
        (
            Method::PUT,
            "/v1/policy".to_owned(),
            json!({"max_key_lifetime_seconds": 60}),
        ),
    ];
    for (method, path, body) in writes {
        let what = format!("{method} {path}");
        assert_unavailable(&what, &h.call(method, &path, Some(body)).await);
    }
    let (_, after) = h.call(Method::GET, &format!("/v1/keys/{id}"), None).await;
    assert_eq!(after, before, "a refused write changed the key");

    // Verifications go on into the journal until it is full, then are refused.
    let mut answered = Vec::new();
    let mut refused = None;
    for n in 0..10_000 {
        let resource = format!("while-broken-{n}");
        let reply = h.verify(&key, &resource).await;
        if reply.0 == 200 {
            assert_eq!(reply.1["code"], "VALID", "{}", reply.1);
            answered.push(resource);
        } else {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("a full journal refuses verifications");
    assert_unavailable("a verification with the journal full", &refused);
    assert!(
        !answered.is_empty(),
        "the journal took events while the database was broken"
    );
    // Concurrent verifications share the refusal.
    let batch = (0..8).map(|i| {
        let (h, key) = (&h, &key);
        async move { h.verify(key, &format!("refused-batch-{i}")).await }
    });
    for reply in futures_util::future::join_all(batch).await {
        assert_unavailable("a verification in a batch with the journal full", &reply);
    }

    h.break_database(false).await;
    let (status, reply) = h.verify(&key, "mended").await;
    assert_eq!(status, 200, "{reply}");
    answered.push("mended".to_owned());
    let mut recorded = h.verified_resources().await;
    recorded.sort();
    answered.sort();
    assert_eq!(
        recorded, answered,
        "exactly the answered verifications are recorded"
    );
    let (status, chain) = h.call(Method::GET, "/v1/audit/verify", None).await;
    assert_eq!((status, &chain["valid"]), (200, &json!(true)), "{chain}");
    // Writes work again.
    let (status, body) = h
        .call(
            Method::PATCH,
            &format!("/v1/keys/{id}"),
            Some(json!({"name": "Stripe Invoice Sync EU"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
