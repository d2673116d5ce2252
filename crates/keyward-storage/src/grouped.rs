//! [`Grouped`]: a [`Store`] whose appends are group-committed in front of an engine that
//! commits each append alone (an in-memory SQLite database; any engine without a journal).

use crate::group_commit::{Batch, Commit, GroupCommit, Stopped};
use crate::StorageMetrics;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::advice::{AdviceCursor, AdviceSettings, Dismissal, KeyAdvice, KeyObservations};
use keyward_core::verified_prefix::VerifiedPrefix;
use keyward_core::{
    AnchorPoint, AuditEvent, AuditFilter, ChainHead, Change, Checkpoint, CreditOutcome, EventKind,
    Handover, KeyFilter, KeyHash, KeyRecord, KeyUsage, NewEvent, RecordedSpend, Records, RootKey,
    Session, Store, StoreError, UsageIncrement, Workspace, WorkspacePolicy, WorkspaceSettings,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Most appends written in one transaction.
const MAX_BATCH: usize = 4096;

/// A store whose [`Store::append_events`] waits for a durable commit shared with every append
/// waiting at the same moment: a verification answers only after its event is durable, and
/// committing each alone would cost a sync per request. One task takes every append waiting,
/// writes them with one [`Store::append_events`] of the engine (one transaction) and answers
/// them all; while it commits, the next batch gathers. Every other method is the engine's.
/// Cloning shares the engine and the committing task.
pub struct Grouped<S> {
    inner: Arc<S>,
    appends: GroupCommit<Vec<NewEvent>, Result<(), StoreError>>,
}

impl<S> Clone for Grouped<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            appends: self.appends.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Grouped<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").finish_non_exhaustive()
    }
}

impl<S: Store> Grouped<S> {
    /// Starts the committing task on the current Tokio runtime (needs one); it ends when the
    /// wrapper is dropped and its queue drained.
    pub fn new(inner: S) -> Self {
        let inner = Arc::new(inner);
        let appends = GroupCommit::on_task(MAX_BATCH, Appender(inner.clone()));
        Self { inner, appends }
    }

    /// The engine behind the group commit.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Each commit's time and the appends it held.
    pub fn metrics(&self) -> StorageMetrics {
        StorageMetrics::default().with_audit_commits(self.appends.stats().clone())
    }
}

/// Commits a batch of appends with one append of the engine.
struct Appender<S>(Arc<S>);

#[async_trait]
impl<S: Store> Commit<Vec<NewEvent>, Result<(), StoreError>> for Appender<S> {
    async fn commit(&self, batch: Batch<Vec<NewEvent>, Result<(), StoreError>>) {
        let (appends, answers) = batch.into_parts();
        let events: Vec<NewEvent> = appends.into_iter().flatten().collect();
        let size = events.len();
        let started = std::time::Instant::now();
        let result = self.0.append_events(events).await;
        tracing::debug!(
            size,
            micros = started.elapsed().as_micros() as u64,
            "audit batch"
        );
        if let Err(e) = &result {
            tracing::error!(error = %e, size, "writing audit events failed; the verifications are refused");
        }
        answers.all(result);
    }
}

#[async_trait]
impl<S: Store> Store for Grouped<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        match self.appends.submit(events).await {
            Ok(result) => result,
            Err(Stopped::Before) => Err(StoreError::Unavailable(
                "the audit writer has stopped".into(),
            )),
            Err(Stopped::MidBatch) => Err(StoreError::Unavailable(
                "the audit writer stopped mid-batch".into(),
            )),
        }
    }

    // The verify path for keys with credits: the engine's future is handed back as it is.
    fn spend_credits<'a, 'b, 'c, 'async_trait>(
        &'a self,
        workspace_id: &'b str,
        key_id: &'c str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Pin<
        Box<dyn Future<Output = Result<Option<CreditOutcome>, StoreError>> + Send + 'async_trait>,
    >
    where
        'a: 'async_trait,
        'b: 'async_trait,
        'c: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.spend_credits(workspace_id, key_id, cost, now)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        root_key: &RootKey,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
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
        self.inner.put_workspace_settings(settings, event).await
    }

    async fn insert_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.inner.insert_root_key(root_key, event).await
    }

    async fn update_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.inner.update_root_key(root_key, event).await
    }

    async fn root_keys(&self) -> Result<Vec<RootKey>, StoreError> {
        self.inner.root_keys().await
    }

    async fn insert_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.inner.insert_key(key, event).await
    }

    async fn update_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.inner.update_key(key, event).await
    }

    async fn rotate_key(
        &self,
        old: &KeyRecord,
        new: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
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

    async fn each_key(&self, each: &mut (dyn FnMut(KeyRecord) + Send)) -> Result<(), StoreError> {
        self.inner.each_key(each).await
    }

    async fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError> {
        self.inner.key_usage().await
    }

    async fn record_usage(&self, usage: Vec<UsageIncrement>) -> Result<(), StoreError> {
        self.inner.record_usage(usage).await
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

    async fn kept_events(
        &self,
        workspace_id: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner
            .kept_events(workspace_id, after_seq, through_seq, limit)
            .await
    }

    async fn chain_head(&self, workspace_id: &str) -> Result<Option<ChainHead>, StoreError> {
        self.inner.chain_head(workspace_id).await
    }

    async fn checkpoint(&self, workspace_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint(workspace_id).await
    }

    async fn anchor_point(&self, workspace_id: &str) -> Result<Option<AnchorPoint>, StoreError> {
        self.inner.anchor_point(workspace_id).await
    }

    async fn prune_events(
        &self,
        workspace_id: &str,
        kind: EventKind,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.inner
            .prune_events(workspace_id, kind, before, now)
            .await
    }

    async fn update_key_and_credits(
        &self,
        key: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.inner.update_key_and_credits(key, event).await
    }

    async fn workspace_policy(&self, workspace_id: &str) -> Result<WorkspacePolicy, StoreError> {
        self.inner.workspace_policy(workspace_id).await
    }

    async fn set_workspace_policy(
        &self,
        workspace_id: &str,
        policy: &WorkspacePolicy,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.inner
            .set_workspace_policy(workspace_id, policy, event)
            .await
    }

    async fn insert_session(&self, session: &Session, event: NewEvent) -> Result<(), StoreError> {
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
        self.inner.touch_session(token_hash, at).await
    }

    async fn end_session(&self, token_hash: &KeyHash, event: NewEvent) -> Result<bool, StoreError> {
        self.inner.end_session(token_hash, event).await
    }

    async fn insert_handover(
        &self,
        handover: &Handover,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_handover(handover, event).await
    }

    async fn handover(&self, id: &str) -> Result<Option<Handover>, StoreError> {
        self.inner.handover(id).await
    }

    async fn take_handover(&self, id: &str, event: NewEvent) -> Result<bool, StoreError> {
        self.inner.take_handover(id, event).await
    }

    async fn prune_dashboard(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_dashboard(now).await
    }

    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        self.inner.changes_since(after_seq, limit).await
    }

    async fn last_change_seq(&self) -> Result<i64, StoreError> {
        self.inner.last_change_seq().await
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
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
        self.inner.put_key_observations(observations).await
    }

    async fn replace_advice(
        &self,
        workspace_id: &str,
        key_ids: &[String],
        items: &[KeyAdvice],
    ) -> Result<(), StoreError> {
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
        self.inner.dismiss_advice(dismissal, event).await
    }

    async fn import_records(&self, records: &Records) -> Result<(), StoreError> {
        self.inner.import_records(records).await
    }

    async fn import_events(
        &self,
        workspace_id: &str,
        events: &[AuditEvent],
        head: &ChainHead,
    ) -> Result<(), StoreError> {
        self.inner.import_events(workspace_id, events, head).await
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

    // A credit spend and the verification that records it, as one durable write.

    /// The engine's own: its spend batch appends the event in the spend's transaction.
    async fn spend_and_record(
        &self,
        spend: RecordedSpend,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        self.inner.spend_and_record(spend).await
    }

    // Index snapshots.

    async fn change_at(&self, seq: i64) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
        self.inner.change_at(seq).await
    }
}
