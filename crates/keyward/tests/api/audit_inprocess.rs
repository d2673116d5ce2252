//! The audit trail driven in-process, where time and storage failures can be controlled:
//! `router(state)` over a real in-memory SQLite store, a `ManualClock` moved by days for
//! retention, and a switch that makes the store's writes fail, as a full or broken disk
//! would, to show that nothing is answered unrecorded.

use crate::helpers::unissued_key;
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_core::{
    AuditEvent, AuditFilter, ChainHead, Checkpoint, EventKind, KeyFilter, KeyRecord, KeyUsage,
    ManualClock, NewEvent, RootKey, Store, StoreError, Workspace, WorkspaceSettings,
};
use keyward_server::{bootstrap, retention, router, AppState};
use keyward_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

const STRIPE: &str = "Stripe Invoice Sending Integration";
const XERO: &str = "Xero Payroll Sync";

/// The real SQLite store; while `down` is set every write fails the way an unwritable
/// database does (`StoreError::Unavailable`). Reads keep working.
struct FaultyStore {
    inner: SqliteStore,
    down: Arc<AtomicBool>,
}

impl FaultyStore {
    fn writable(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "injected fault: disk I/O error".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        root_key: &RootKey,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner
            .create_workspace(workspace, root_key, events)
            .await
    }
    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.inner.workspaces().await
    }
    async fn workspace_settings(&self) -> Result<Vec<WorkspaceSettings>, StoreError> {
        self.inner.workspace_settings().await
    }
    async fn put_workspace_settings(
        &self,
        settings: &WorkspaceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.put_workspace_settings(settings, event).await
    }
    async fn insert_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.insert_root_key(root_key, event).await
    }
    async fn update_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.update_root_key(root_key, event).await
    }
    async fn root_keys(&self) -> Result<Vec<RootKey>, StoreError> {
        self.inner.root_keys().await
    }
    async fn insert_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.insert_key(key, event).await
    }
    async fn update_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.update_key(key, event).await
    }
    async fn update_key_and_credits(
        &self,
        key: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.update_key_and_credits(key, event).await
    }
    async fn spend_credits(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<keyward_core::CreditOutcome>, StoreError> {
        self.writable()?;
        self.inner
            .spend_credits(workspace_id, key_id, cost, now)
            .await
    }
    async fn workspace_policy(
        &self,
        workspace_id: &str,
    ) -> Result<keyward_core::WorkspacePolicy, StoreError> {
        self.inner.workspace_policy(workspace_id).await
    }
    async fn set_workspace_policy(
        &self,
        workspace_id: &str,
        policy: &keyward_core::WorkspacePolicy,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner
            .set_workspace_policy(workspace_id, policy, event)
            .await
    }
    async fn rotate_key(
        &self,
        old: &KeyRecord,
        new: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.rotate_key(old, new, event).await
    }
    async fn key(&self, workspace_id: &str, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.key(workspace_id, id).await
    }
    async fn list_keys(
        &self,
        workspace_id: &str,
        filter: &KeyFilter,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list_keys(workspace_id, filter).await
    }
    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.all_keys().await
    }
    async fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError> {
        self.inner.key_usage().await
    }
    async fn record_usage(&self, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.record_usage(usage).await
    }
    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.append_events(events).await
    }
    async fn events(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.events(workspace_id, filter).await
    }
    async fn events_ascending(
        &self,
        workspace_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner
            .events_ascending(workspace_id, after_seq, limit)
            .await
    }
    async fn chain_head(&self, workspace_id: &str) -> Result<Option<ChainHead>, StoreError> {
        self.inner.chain_head(workspace_id).await
    }
    async fn checkpoint(&self, workspace_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint(workspace_id).await
    }
    // `anchor_point` is the trait's default (reading the events), which
    // `the_export_checker_allows_only_retentions_gaps` holds to the chain.
    async fn prune_events(
        &self,
        workspace_id: &str,
        kind: EventKind,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.writable()?;
        self.inner
            .prune_events(workspace_id, kind, before, now)
            .await
    }
}

/// One workspace served in-process.
struct Harness {
    state: AppState,
    app: Router,
    clock: Arc<ManualClock>,
    /// Set to make every store write fail.
    fault: Arc<AtomicBool>,
    root_key: String,
}

/// A finished response.
struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
    json: Value,
}

impl Reply {
    #[track_caller]
    fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        &self.json
    }
}

async fn harness() -> Harness {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("an in-memory database");
    store.migrate().await.expect("migrating");
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .expect("a valid start time");
    let clock = Arc::new(ManualClock::new(start));
    let created =
        bootstrap::create_workspace(&store, clock.as_ref(), "In-process workspace", "bos")
            .await
            .expect("creating the workspace");
    let fault = Arc::new(AtomicBool::new(false));
    let store: Arc<dyn Store> = Arc::new(FaultyStore {
        inner: store,
        down: fault.clone(),
    });
    let state = AppState::load(store, clock.clone())
        .await
        .expect("loading the state");
    Harness {
        app: router(state.clone()),
        state,
        clock,
        fault,
        root_key: created.root_key.expose().to_owned(),
    }
}

impl Harness {
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.root_key));
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("a valid request");
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router always answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("reading the body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        crate::helpers::check_answer(status.as_u16(), &text, &json);
        Reply {
            status,
            content_type,
            json,
            text,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Creates a key; returns `(id, plaintext)`.
    async fn new_key(&self, name: &str, permissions: &[&str]) -> (String, String) {
        let body = self
            .post(
                "/v1/keys",
                &json!({"name": name, "permissions": permissions}),
            )
            .await
            .expect(201)
            .clone();
        let field = |f: &str| body[f].as_str().expect("id and key").to_owned();
        (field("id"), field("key"))
    }

    async fn verify(&self, key: &str, permission: &str, resource: &str) -> Reply {
        self.post(
            "/v1/verify",
            &json!({
                "key": key,
                "permission": permission,
                "action": "invoices.delete",
                "resource": resource,
            }),
        )
        .await
    }

    /// Verifies, asserting `200`; returns the code.
    async fn verify_code(&self, key: &str, permission: &str, resource: &str) -> String {
        let reply = self.verify(key, permission, resource).await;
        reply.expect(200)["code"]
            .as_str()
            .expect("a code")
            .to_owned()
    }

    /// Every event matching `query`, newest first (one page).
    async fn events(&self, query: &str) -> Vec<Value> {
        let body = self
            .get(&format!("/v1/audit?limit=1000&{query}"))
            .await
            .expect(200)
            .clone();
        assert_eq!(body["next_cursor"], Value::Null, "more than a page");
        body["events"].as_array().expect("events").clone()
    }

    async fn resources(&self, query: &str) -> BTreeSet<String> {
        self.events(query)
            .await
            .iter()
            .map(|e| e["resource"].as_str().expect("a resource").to_owned())
            .collect()
    }

    async fn chain(&self) -> Value {
        self.get("/v1/audit/verify").await.expect(200).clone()
    }

    async fn prune(&self) -> u64 {
        retention::prune_once(&self.state)
            .await
            .expect("pruning succeeds")
    }
}

fn seq_of(events: &[Value], resource: &str) -> i64 {
    events
        .iter()
        .find(|e| e["resource"] == resource)
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or_else(|| panic!("no event for {resource}"))
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[track_caller]
fn assert_valid(check: &Value, events: usize, checkpoint_seq: Option<i64>) {
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["events"], json!(events), "{check}");
    assert_eq!(
        check.get("checkpoint_seq").and_then(Value::as_i64),
        checkpoint_seq,
        "{check}"
    );
}

#[tokio::test]
async fn retention_prunes_old_verifications_keeps_management_events_and_the_chain() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    for i in 0..3 {
        assert_eq!(
            h.verify_code(&stripe, "invoices:delete", &format!("old-{i}"))
                .await,
            "VALID"
        );
    }
    h.clock.advance(Duration::days(91));
    for i in 0..2 {
        h.verify_code(&stripe, "invoices:delete", &format!("new-{i}"))
            .await;
    }
    h.new_key(XERO, &["payroll:write"]).await;
    let before = h.events("").await;
    assert_eq!(before.len(), 9);
    let cut = seq_of(&before, "old-2");

    assert_eq!(h.prune().await, 3, "the three verifications past 90 days");
    assert_eq!(
        h.resources("kind=key.verified").await,
        names(&["new-0", "new-1"])
    );
    let kept: Vec<String> = h
        .events("outcome=OK")
        .await
        .iter()
        .rev()
        .map(|e| e["kind"].as_str().expect("a kind").to_owned())
        .collect();
    assert_eq!(
        kept,
        [
            "workspace.created",
            "root_key.created",
            "key.created",
            "key.created",
            "audit.checkpoint"
        ],
        "management events are kept whatever their age, and the cut is chained"
    );
    assert_valid(&h.chain().await, 7, Some(cut));
    assert_eq!(h.prune().await, 0, "pruning again changes nothing");
    assert_valid(&h.chain().await, 7, Some(cut));

    // A 30-day setting: kept at 29 days, pruned at 31.
    h.patch("/v1/workspace", &json!({"audit_retention_days": 30}))
        .await
        .expect(200);
    h.verify_code(&stripe, "invoices:delete", "thirty-0").await;
    h.clock.advance(Duration::days(29));
    h.verify_code(&stripe, "invoices:delete", "thirty-1").await;
    assert_eq!(h.prune().await, 0);
    assert_eq!(
        h.resources("kind=key.verified").await,
        names(&["new-0", "new-1", "thirty-0", "thirty-1"])
    );
    let before = h.events("").await;
    h.clock.advance(Duration::days(2));
    assert_eq!(
        h.prune().await,
        3,
        "new-0, new-1 and thirty-0 are 31+ days old"
    );
    assert_eq!(h.resources("kind=key.verified").await, names(&["thirty-1"]));
    let cut = seq_of(&before, "thirty-0");
    let remaining = h.events("").await.len();
    assert_eq!(
        remaining, 8,
        "5 management events, 2 audit.checkpoint events and thirty-1"
    );
    assert_valid(&h.chain().await, remaining, Some(cut));

    // The chain goes on from the cut.
    h.verify_code(&stripe, "invoices:delete", "after").await;
    assert_valid(&h.chain().await, remaining + 1, Some(cut));
}

#[tokio::test]
async fn storage_failures_refuse_verifications_and_changes_with_503() {
    let h = harness().await;
    let (id, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    let shown = h.get(&format!("/v1/keys/{id}")).await.expect(200).clone();
    let events_before = h.events("").await;

    h.fault.store(true, Ordering::SeqCst);
    let mut refused = vec![
        h.verify(&stripe, "invoices:delete", "down-valid").await,
        h.verify(&stripe, "payroll:read", "down-refused").await,
        h.verify(&unissued_key("bos"), "invoices:delete", "down-unknown")
            .await,
        h.post("/v1/keys", &json!({"name": XERO})).await,
        h.patch(
            &format!("/v1/keys/{id}"),
            &json!({"name": "Stripe Invoice Sync EU"}),
        )
        .await,
        h.post(&format!("/v1/keys/{id}/revoke"), &json!({})).await,
        h.post(&format!("/v1/keys/{id}/rotate"), &json!({})).await,
        h.post(
            "/v1/root-keys",
            &json!({"name": "Audit Reader Root Key", "permissions": ["audit:read"]}),
        )
        .await,
        h.patch("/v1/workspace", &json!({"verification_audit": "none"}))
            .await,
    ];
    // Concurrent verifications share one failed commit: every one of them is refused.
    let batch = (0..20).map(|i| {
        let h = &h;
        let key = stripe.clone();
        async move {
            h.verify(&key, "invoices:delete", &format!("down-batch-{i}"))
                .await
        }
    });
    refused.extend(futures_util::future::join_all(batch).await);
    for reply in &refused {
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text
        );
        assert!(reply.content_type.starts_with("application/json"));
        let error = reply.json["error"].as_object().expect("the error body");
        assert_eq!(
            reply.json.as_object().map(|o| o.len()),
            Some(1),
            "{}",
            reply.text
        );
        assert_eq!(error.len(), 2, "{}", reply.text);
        assert_eq!(error["code"], "unavailable");
        assert!(!error["message"].as_str().expect("a message").is_empty());
        for secret in [stripe.as_str(), h.root_key.as_str(), "injected", "disk I/O"] {
            assert!(!reply.text.contains(secret), "{}", reply.text);
        }
    }
    // Nothing changed, and reads still work.
    assert_eq!(
        h.get(&format!("/v1/keys/{id}")).await.expect(200)["name"],
        shown["name"]
    );
    assert_eq!(
        h.get("/v1/keys").await.expect(200)["keys"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        h.get("/v1/workspace").await.expect(200)["verification_audit"],
        "all"
    );
    assert_eq!(h.events("").await, events_before);

    // With verifications not recorded, there is nothing to fail: they are answered.
    h.fault.store(false, Ordering::SeqCst);
    h.patch("/v1/workspace", &json!({"verification_audit": "none"}))
        .await
        .expect(200);
    h.fault.store(true, Ordering::SeqCst);
    assert_eq!(
        h.verify_code(&stripe, "invoices:delete", "none-while-down")
            .await,
        "VALID"
    );

    h.fault.store(false, Ordering::SeqCst);
    h.patch("/v1/workspace", &json!({"verification_audit": "all"}))
        .await
        .expect(200);
    assert_eq!(
        h.verify_code(&stripe, "invoices:delete", "back-up").await,
        "VALID"
    );
    h.post(&format!("/v1/keys/{id}/revoke"), &json!({}))
        .await
        .expect(200);
    assert_eq!(
        h.verify_code(&stripe, "invoices:delete", "revoked").await,
        "REVOKED"
    );
    assert_eq!(
        h.resources("kind=key.verified").await,
        names(&["back-up", "revoked"]),
        "only answered verifications are recorded"
    );
    let all = h.events("").await;
    assert_valid(&h.chain().await, all.len(), None);
}

#[tokio::test]
async fn export_and_chain_check_cross_storage_pages() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    // 3 management events + 1997 verifications = 2000: exactly two pages of 1000 in storage.
    let verifications = (0..1997).map(|i| {
        let h = &h;
        let key = stripe.clone();
        async move {
            h.verify(&key, "invoices:delete", &format!("INV-{i}"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(verifications).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));

    let export = h.get("/v1/audit/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.content_type, "application/x-ndjson");
    let seqs: Vec<i64> = export
        .text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("a JSON line")["seq"]
                .as_i64()
                .expect("a seq")
        })
        .collect();
    assert_eq!(seqs, (1..=2000).rev().collect::<Vec<i64>>());
    assert_valid(&h.chain().await, 2000, None);

    let first = h.get("/v1/audit?limit=1000").await.expect(200).clone();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = h
        .get(&format!("/v1/audit?limit=1000&cursor={cursor}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(second["events"].as_array().map(Vec::len), Some(1000));
    assert_eq!(second["next_cursor"], Value::Null);
}

/// Runs `docs/verify_audit_export.py` on `export`; returns its exit code and output.
fn python_check(export: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("audit.ndjson");
    std::fs::write(&file, export).expect("writing the export");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/verify_audit_export.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 runs docs/verify_audit_export.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("an exit code"), text)
}

/// The export checker allows gaps only where the chain's newest checkpoint says retention
/// pruned: a kept event deleted before the cut, or any event deleted after it, is a break.
#[tokio::test]
async fn the_export_checker_allows_only_retentions_gaps() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    h.verify_code(&stripe, "invoices:delete", "old").await;
    h.clock.advance(Duration::days(91));
    h.verify_code(&stripe, "invoices:delete", "new-0").await;
    h.verify_code(&stripe, "invoices:delete", "new-1").await;
    assert_eq!(h.prune().await, 1);
    let reply = h.get("/v1/audit/export").await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let text = reply.text;
    let (code, out) = python_check(&text);
    assert_eq!(code, 0, "{out}");

    // The default `Store::anchor_point` (this test store does not override it) counts what
    // the chain check counts: every event at or before the head but verifications.
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let workspace_id = events[0]["workspace_id"].as_str().unwrap();
    let head = h
        .state
        .store()
        .anchor_point(workspace_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        head.seq,
        events[0]["seq"].as_i64().unwrap(),
        "the newest event"
    );
    assert_eq!(head.hash, events[0]["hash"].as_str().unwrap());
    let kept = events
        .iter()
        .filter(|e| e["kind"] != "key.verified")
        .count();
    assert_eq!(head.kept, u64::try_from(kept).unwrap());

    let without = |pick: &dyn Fn(&Value) -> bool| {
        let lines: Vec<&str> = text.lines().collect();
        let index = lines
            .iter()
            .position(|line| pick(&serde_json::from_str(line).expect("JSON")))
            .expect("a line to drop");
        let mut kept = lines.clone();
        kept.remove(index);
        kept.join("\n")
    };
    let (code, out) = python_check(&without(&|e| e["kind"] == "key.created"));
    assert_eq!(code, 1, "a kept management event deleted: {out}");
    assert!(out.contains("expected"), "{out}");
    let (code, out) = python_check(&without(&|e| e["resource"] == "new-0"));
    assert_eq!(code, 1, "a verification after the cut deleted: {out}");
    assert!(out.contains("retention did not make"), "{out}");
}
