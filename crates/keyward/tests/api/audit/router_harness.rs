//! The audit tests' server in process without a listener: `router(state)` over a real
//! in-memory SQLite store, a `ManualClock`, and a switch that makes the store's writes fail.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use keyward_app::{bootstrap, retention, Keyward};
use keyward_core::advice::{AdviceCursor, AdviceSettings, Dismissal, KeyAdvice, KeyObservations};
use keyward_core::verified_prefix::VerifiedPrefix;
use keyward_core::{
    AuditEvent, AuditFilter, ChainHead, Checkpoint, EventKind, Handover, KeyFilter, KeyHash,
    KeyRecord, KeyUsage, ManualClock, NewEvent, RootKey, Session, Store, StoreError,
    UsageIncrement, Workspace, WorkspaceSettings,
};
use keyward_server::router;
use keyward_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

/// The real SQLite store; while `down` is set every write fails the way an unwritable
/// database does (`StoreError::Unavailable`). Reads keep working.
pub(crate) struct FaultyStore {
    pub(crate) inner: SqliteStore,
    pub(crate) down: Arc<AtomicBool>,
}

impl FaultyStore {
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
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
    async fn insert_session(&self, session: &Session, event: NewEvent) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.insert_session(session, event).await
    }

    async fn session(&self, token_hash: &KeyHash) -> Result<Option<Session>, StoreError> {
        self.inner.session(token_hash).await
    }

    async fn touch_session(
        &self,
        token_hash: &KeyHash,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.touch_session(token_hash, at).await
    }

    async fn end_session(&self, token_hash: &KeyHash, event: NewEvent) -> Result<bool, StoreError> {
        self.writable()?;
        self.inner.end_session(token_hash, event).await
    }

    async fn insert_handover(
        &self,
        handover: &Handover,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.insert_handover(handover, event).await
    }

    async fn handover(&self, id: &str) -> Result<Option<Handover>, StoreError> {
        self.inner.handover(id).await
    }

    async fn take_handover(&self, id: &str, event: NewEvent) -> Result<bool, StoreError> {
        self.writable()?;
        self.inner.take_handover(id, event).await
    }

    async fn prune_dashboard(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.writable()?;
        self.inner.prune_dashboard(now).await
    }

    async fn changes_since(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<keyward_core::Change>, StoreError> {
        self.inner.changes_since(after_seq, limit).await
    }
    async fn last_change_seq(&self) -> Result<i64, StoreError> {
        self.inner.last_change_seq().await
    }
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.writable()?;
        self.inner.prune_changes(before).await
    }
    async fn advice_settings(
        &self,
        workspace_id: &str,
    ) -> Result<Option<AdviceSettings>, StoreError> {
        self.inner.advice_settings(workspace_id).await
    }
    async fn set_advice_settings(
        &self,
        workspace_id: &str,
        settings: &AdviceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner
            .set_advice_settings(workspace_id, settings, event)
            .await
    }
    async fn key_observations(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<KeyObservations>, StoreError> {
        self.inner.key_observations(workspace_id, key_ids).await
    }
    async fn put_key_observations(
        &self,
        observations: &[KeyObservations],
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.put_key_observations(observations).await
    }
    async fn replace_advice(
        &self,
        workspace_id: &str,
        key_ids: &[String],
        items: &[KeyAdvice],
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner
            .replace_advice(workspace_id, key_ids, items)
            .await
    }
    async fn advice(
        &self,
        workspace_id: &str,
        after: Option<&AdviceCursor>,
        limit: u32,
    ) -> Result<Vec<KeyAdvice>, StoreError> {
        self.inner.advice(workspace_id, after, limit).await
    }
    async fn advice_dismissals(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<Dismissal>, StoreError> {
        self.inner.advice_dismissals(workspace_id, key_ids).await
    }
    async fn dismiss_advice(
        &self,
        dismissal: &Dismissal,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.dismiss_advice(dismissal, event).await
    }
    async fn import_records(&self, records: &keyward_core::Records) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.import_records(records).await
    }
    async fn import_events(
        &self,
        workspace_id: &str,
        events: &[keyward_core::AuditEvent],
        head: &keyward_core::ChainHead,
    ) -> Result<(), StoreError> {
        self.writable()?;
        self.inner.import_events(workspace_id, events, head).await
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
    async fn record_usage(&self, usage: Vec<UsageIncrement>) -> Result<(), StoreError> {
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

    async fn verified_prefix(
        &self,
        workspace_id: &str,
    ) -> Result<Option<VerifiedPrefix>, StoreError> {
        self.inner.verified_prefix(workspace_id).await
    }

    async fn put_verified_prefix(&self, prefix: &VerifiedPrefix) -> Result<(), StoreError> {
        self.inner.put_verified_prefix(prefix).await
    }

    async fn clear_verified_prefix(&self, workspace_id: &str) -> Result<(), StoreError> {
        self.inner.clear_verified_prefix(workspace_id).await
    }
}

/// One workspace served in-process.
pub(crate) struct Harness {
    pub(crate) state: Keyward,
    pub(crate) app: Router,
    pub(crate) clock: Arc<ManualClock>,
    /// Set to make every store write fail.
    pub(crate) fault: Arc<AtomicBool>,
    pub(crate) root_key: String,
}

/// A finished response.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Reply {
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        &self.json
    }
}

pub(crate) async fn harness() -> Harness {
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
    let state = Keyward::load(store, clock.clone())
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
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
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

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Creates a key; returns `(id, plaintext)`.
    pub(crate) async fn new_key(&self, name: &str, permissions: &[&str]) -> (String, String) {
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

    pub(crate) async fn verify(&self, key: &str, permission: &str, resource: &str) -> Reply {
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
    pub(crate) async fn verify_code(&self, key: &str, permission: &str, resource: &str) -> String {
        let reply = self.verify(key, permission, resource).await;
        reply.expect(200)["code"]
            .as_str()
            .expect("a code")
            .to_owned()
    }

    /// Every event matching `query`, newest first (one page).
    pub(crate) async fn events(&self, query: &str) -> Vec<Value> {
        let body = self
            .get(&format!("/v1/audit?limit=1000&{query}"))
            .await
            .expect(200)
            .clone();
        assert_eq!(body["next_cursor"], Value::Null, "more than a page");
        body["events"].as_array().expect("events").clone()
    }

    pub(crate) async fn resources(&self, query: &str) -> BTreeSet<String> {
        self.events(query)
            .await
            .iter()
            .map(|e| e["resource"].as_str().expect("a resource").to_owned())
            .collect()
    }

    pub(crate) async fn chain(&self) -> Value {
        self.get("/v1/audit/verify").await.expect(200).clone()
    }

    pub(crate) async fn prune(&self) -> u64 {
        retention::prune_once(&self.state)
            .await
            .expect("pruning succeeds")
    }
}

pub(crate) fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[track_caller]
pub(crate) fn assert_valid(check: &Value, events: usize, checkpoint_seq: Option<i64>) {
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["events"], json!(events), "{check}");
    assert_eq!(
        check.get("checkpoint_seq").and_then(Value::as_i64),
        checkpoint_seq,
        "{check}"
    );
}
