//! The index snapshot (`keyward_app::snapshot`): read back, it equals a full load of every
//! key; changes made after it (create, revoke, rotate, update) are applied at start, so a
//! revoked key never verifies after a restart; a damaged, foreign or stale snapshot is set
//! aside and every key is read instead. In process (`router(state)` with `oneshot`, SQLite
//! files, a `ManualClock`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use keyward_app::index::KeyIndex;
use keyward_app::snapshot::{self, SnapshotWriter, Written};
use keyward_app::{bootstrap, Keyward};
use keyward_core::{Clock, ManualClock, Store};
use keyward_server::router;
use keyward_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

/// A node on one SQLite file with its snapshot beside it.
struct Node {
    store: Arc<dyn Store>,
    state: Keyward,
    root: String,
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ))
}

async fn open(db: &Path) -> Arc<dyn Store> {
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

fn snapshot_of(db: &Path) -> PathBuf {
    db.with_extension("db.index")
}

/// A new database at `db` with one workspace, served by a node that loaded from the
/// snapshot path (there is none yet).
async fn first_node(db: &Path) -> Node {
    let store = open(db).await;
    let created = bootstrap::create_workspace(store.as_ref(), clock().as_ref(), "Test", "bos")
        .await
        .unwrap();
    let root = created.root_key.expose().to_owned();
    restart(db, root).await
}

/// A node started on the existing database at `db`, as `keyward serve` starts one.
async fn restart(db: &Path, root: String) -> Node {
    let store = open(db).await;
    let state = Keyward::load_from(store.clone(), clock(), Some(&snapshot_of(db)))
        .await
        .unwrap();
    Node { store, state, root }
}

impl Node {
    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.root))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = router(self.state.clone()).oneshot(req).await.unwrap();
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
        let field = |name: &str| created[name].as_str().unwrap().to_owned();
        (field("key"), field("id"))
    }

    async fn expect(&self, method: &str, path: &str, body: Value, status: StatusCode) -> Value {
        let (got, answer) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }

    async fn code(&self, key: &str, permission: &str) -> String {
        let answer = self
            .expect(
                "POST",
                "/v1/verify",
                json!({"key": key, "permission": permission}),
                StatusCode::OK,
            )
            .await;
        answer["code"].as_str().unwrap().to_owned()
    }

    async fn write_snapshot(&self, db: &Path) -> Written {
        SnapshotWriter::new(&self.state, snapshot_of(db))
            .write(&self.state)
            .await
            .unwrap()
    }
}

/// Every key of `store` is in `index` exactly as a full load reads it, and nothing else is.
async fn assert_same_as_full_load(index: &KeyIndex, store: &dyn Store) {
    let full = KeyIndex::load(store).await.unwrap();
    let keys = store.all_keys().await.unwrap();
    assert!(!keys.is_empty());
    assert_eq!(index.key_count(), keys.len());
    assert_eq!(full.key_count(), keys.len());
    for key in keys {
        assert_eq!(index.key(&key.hash), full.key(&key.hash), "key {}", key.id);
    }
}

#[tokio::test]
async fn a_snapshot_reads_back_every_field_as_a_full_load_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let node = first_node(&db).await;
    node.create(
        "Every Field Set",
        json!({
            "description": "ünïcode – description",
            "owner_id": "customer-7",
            "permissions": ["invoices:read", "payroll:*"],
            "expires_at": "2030-01-01T00:00:00Z",
            "enabled": false,
            "metadata": {"plan": "pro", "seats": [1, 2.5, null, {"a": true}]},
            "ip_allowlist": ["203.0.113.0/24", "2001:db8::/32"],
            "origin_allowlist": ["https://app.example.com", "https://*.example.org"],
            "credits": {"remaining": 12, "refill": {"amount": 5, "interval_seconds": 3600}},
            "rate_limit": {"limit": 5, "window_seconds": 60}
        }),
    )
    .await;
    node.create("Plain Key", json!({})).await;
    let (_, revoked) = node.create("Revoked Key", json!({})).await;
    node.expect(
        "POST",
        &format!("/v1/keys/{revoked}/revoke"),
        json!({"reason": "leaked"}),
        StatusCode::OK,
    )
    .await;
    let (_, rotated) = node.create("Rotated Key", json!({})).await;
    node.expect(
        "POST",
        &format!("/v1/keys/{rotated}/rotate"),
        json!({"grace_period_seconds": 600}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(node.write_snapshot(&db).await, Written::Keys(5));
    // Nothing changed since: the file is current and is not written again.
    assert_eq!(node.write_snapshot(&db).await, Written::Current);

    let index = snapshot::load(&snapshot_of(&db), node.store.as_ref())
        .await
        .unwrap()
        .expect("the snapshot is valid for this database");
    assert_same_as_full_load(&index, node.store.as_ref()).await;
}

#[tokio::test]
async fn changes_after_the_snapshot_are_applied_and_a_revoked_key_never_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let node = first_node(&db).await;
    let (revoked, revoked_id) = node.create("Revoked After", json!({})).await;
    let (rotated, rotated_id) = node.create("Rotated After", json!({})).await;
    let (updated, updated_id) = node.create("Updated After", json!({})).await;
    assert_eq!(node.write_snapshot(&db).await, Written::Keys(3));

    // After the snapshot, and no snapshot since (as when the process is killed).
    node.expect(
        "POST",
        &format!("/v1/keys/{revoked_id}/revoke"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let replaced = node
        .expect(
            "POST",
            &format!("/v1/keys/{rotated_id}/rotate"),
            json!({"grace_period_seconds": 0}),
            StatusCode::CREATED,
        )
        .await;
    let replacement = replaced["key"].as_str().unwrap().to_owned();
    node.expect(
        "PATCH",
        &format!("/v1/keys/{updated_id}"),
        json!({"permissions": ["payroll:read"]}),
        StatusCode::OK,
    )
    .await;
    let (created, _) = node.create("Created After", json!({})).await;
    let root = node.root.clone();
    drop(node);

    let store = open(&db).await;
    let index = snapshot::load(&snapshot_of(&db), store.as_ref())
        .await
        .unwrap()
        .expect("the snapshot is still valid: its change is in the log");
    assert_same_as_full_load(&index, store.as_ref()).await;

    let node = restart(&db, root).await;
    assert_eq!(node.code(&revoked, "invoices:read").await, "REVOKED");
    assert_ne!(node.code(&rotated, "invoices:read").await, "VALID");
    assert_eq!(node.code(&replacement, "invoices:read").await, "VALID");
    assert_eq!(
        node.code(&updated, "invoices:read").await,
        "INSUFFICIENT_PERMISSIONS"
    );
    assert_eq!(node.code(&updated, "payroll:read").await, "VALID");
    assert_eq!(node.code(&created, "invoices:read").await, "VALID");
}

#[tokio::test]
async fn a_damaged_snapshot_is_set_aside_and_every_key_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let node = first_node(&db).await;
    let (key, id) = node.create("Revoked Later", json!({})).await;
    node.create("Another Key", json!({})).await;
    assert_eq!(node.write_snapshot(&db).await, Written::Keys(2));
    node.expect(
        "POST",
        &format!("/v1/keys/{id}/revoke"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let path = snapshot_of(&db);
    let good = std::fs::read(&path).unwrap();
    let last = good.len() - 1;
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("a flipped byte in a key", {
            let mut bytes = good.clone();
            bytes[good.len() / 2] ^= 0x01;
            bytes
        }),
        ("a flipped checksum byte", {
            let mut bytes = good.clone();
            bytes[last] ^= 0x80;
            bytes
        }),
        ("cut short", good[..good.len() - 7].to_vec()),
        ("another format version", {
            let mut bytes = good.clone();
            bytes[8] = bytes[8].wrapping_add(1);
            bytes
        }),
        ("not a snapshot", b"SQLite format 3\0".to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&path, &bytes).unwrap();
        let found = snapshot::load(&path, node.store.as_ref()).await.unwrap();
        assert!(found.is_none(), "{what}: set aside");
        let restarted = restart(&db, node.root.clone()).await;
        assert_eq!(
            restarted.code(&key, "invoices:read").await,
            "REVOKED",
            "{what}"
        );
        assert_eq!(restarted.state.key_count(), 2, "{what}");
    }
}

#[tokio::test]
async fn a_snapshot_of_another_database_or_older_than_the_change_log_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    // Two databases with the same history's shape: their change logs have the same length.
    let (db, other_db) = (dir.path().join("k.db"), dir.path().join("other.db"));
    let node = first_node(&db).await;
    let other = first_node(&other_db).await;
    let (key, id) = node.create("Same Shape", json!({})).await;
    other.create("Same Shape", json!({})).await;
    assert_eq!(other.write_snapshot(&other_db).await, Written::Keys(1));
    std::fs::copy(snapshot_of(&other_db), snapshot_of(&db)).unwrap();
    let found = snapshot::load(&snapshot_of(&db), node.store.as_ref())
        .await
        .unwrap();
    assert!(found.is_none(), "another database's snapshot is set aside");

    // A snapshot whose change was pruned from the log since (it is older than the log keeps).
    assert_eq!(node.write_snapshot(&db).await, Written::Keys(1));
    node.expect(
        "POST",
        &format!("/v1/keys/{id}/revoke"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    node.create("Newest Change", json!({})).await;
    let later = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
    assert!(node.store.prune_changes(later).await.unwrap() > 0);
    let found = snapshot::load(&snapshot_of(&db), node.store.as_ref())
        .await
        .unwrap();
    assert!(
        found.is_none(),
        "a snapshot older than the log is set aside"
    );
    let restarted = restart(&db, node.root.clone()).await;
    assert_eq!(restarted.code(&key, "invoices:read").await, "REVOKED");
    assert_eq!(restarted.state.key_count(), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn the_snapshot_is_readable_by_the_server_s_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let node = first_node(&db).await;
    node.create("Private Digest", json!({})).await;
    assert_eq!(node.write_snapshot(&db).await, Written::Keys(1));
    let mode = std::fs::metadata(snapshot_of(&db))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn keyward_serve_writes_its_snapshot_at_shutdown_and_starts_from_it() {
    let mut app = crate::helpers::spawn_app();
    let api = app.api();
    let kept = api
        .new_key("Kept Across Restarts", &["invoices:read"])
        .await;
    let revoked = api
        .new_key("Revoked Before Restart", &["invoices:read"])
        .await;
    api.revoke_key(&revoked.id, None).await.expect(200);
    app.restart();
    let log = app.log_text();
    assert!(log.contains("wrote the index snapshot"), "{log}");
    assert!(log.contains("key index loaded from its snapshot"), "{log}");
    let api = app.api();
    assert_eq!(api.verify_code(&kept.key, None).await, "VALID");
    assert_eq!(api.verify_code(&revoked.key, None).await, "REVOKED");
}
