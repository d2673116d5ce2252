//! [`Journaled`]: a [`Store`] whose appended events go through the audit journal (see
//! [`crate::journal`]), settling before every chained write and every read of events, and
//! whose credit spends are decided by the journal's writer and journaled with their event.

use crate::journal::{AuditJournal, CreditSpend, IngestTarget};
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
use keyward_journal::Options;
use std::path::Path;
use std::sync::Arc;

/// A store fed by the audit journal in `dir`: [`Store::append_events`] returns once the
/// events are durable in the journal (group-committed with every append waiting); the
/// ingester takes them into the engine in the background. Every method that writes a
/// chained event or reads events first waits until everything appended before it is in
/// the engine, so a query sees every verification answered before it began and a
/// management event is chained after them. [`Store::ping`] fails while the journal refuses
/// appends (after a failed write) or the engine is not taking its events in.
///
/// Credit spends ([`Store::spend_credits`], [`Store::spend_and_record`]) are decided by the
/// journal's writer against its ledger and journaled, the balance they leave in the same
/// record as the verification's event; reads of keys settle first, so they show every
/// balance answered; writes that set credits fence the ledger (see [`crate::ledger`]).
///
/// Whoever owns it calls [`Journaled::shut_down`] after the last request, so the engine
/// alone is complete.
/// Cloning shares the engine and the journal.
pub struct Journaled<S> {
    inner: Arc<S>,
    journal: Arc<AuditJournal>,
}

impl<S> Clone for Journaled<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            journal: self.journal.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Journaled<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journaled")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl<S: Store + IngestTarget> Journaled<S> {
    /// Opens the journal in `dir` (created if missing) for `inner`, after taking in whatever
    /// it holds from before (a crash between journal and engine), and starts its writer
    /// thread and ingester. Call after [`Store::migrate`] and before serving.
    pub async fn open(inner: S, dir: &Path, options: Options) -> Result<Self, StoreError> {
        let inner = Arc::new(inner);
        let journal = Arc::new(AuditJournal::open(inner.clone(), dir, options).await?);
        Ok(Self { inner, journal })
    }

    /// The engine behind the journal.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The journal's metrics: each durable write's time and size, and how many events wait to
    /// be taken into the engine.
    pub fn metrics(&self) -> StorageMetrics {
        let journal = self.journal.clone();
        StorageMetrics::default()
            .with_audit_commits(self.journal.commit_stats())
            .with_ingest_lag(move || journal.lag())
    }

    /// Returns once every event already appended is in the engine and placed in its chain.
    /// Every method that writes or reads events does so itself.
    pub async fn settle(&self) -> Result<(), StoreError> {
        self.journal.settle().await
    }

    /// Called once after the last request: stops the writer thread (appends after this
    /// fail), which closes the journal and releases its lock, takes everything in and
    /// releases the engine's binding to the journal.
    pub async fn shut_down(&self) -> Result<(), StoreError> {
        self.journal.close().await
    }

    /// [`Journaled::shut_down`], then the engine's own close (its connections).
    pub async fn close(&self) {
        if let Err(e) = self.shut_down().await {
            tracing::error!(error = %e, "closing the audit journal: the next open takes in the rest");
        }
        self.inner.close().await;
    }
}

#[async_trait]
impl<S: Store + IngestTarget> Store for Journaled<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.journal.check()?;
        self.inner.ping().await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.journal.append(events).await
    }

    async fn spend_credits(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        let spend = CreditSpend {
            workspace_id: workspace_id.to_owned(),
            key_id: key_id.to_owned(),
            cost,
            now,
            event: None,
        };
        self.journal.spend(spend).await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.journal.settle().await?;
        self.inner.migrate().await
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        root_key: &RootKey,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.journal.settle().await?;
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
        self.journal.settle().await?;
        self.inner.put_workspace_settings(settings, event).await
    }

    async fn insert_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.journal.settle().await?;
        self.inner.insert_root_key(root_key, event).await
    }

    async fn update_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.journal.settle().await?;
        self.inner.update_root_key(root_key, event).await
    }

    async fn root_keys(&self) -> Result<Vec<RootKey>, StoreError> {
        self.inner.root_keys().await
    }

    async fn insert_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.journal.settle().await?;
        self.inner.insert_key(key, event).await
    }

    async fn update_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.journal.settle().await?;
        self.inner.update_key(key, event).await
    }

    async fn rotate_key(
        &self,
        old: &KeyRecord,
        new: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let _fence = self.journal.fence().await?;
        self.inner.rotate_key(old, new, event).await
    }

    // Reads of keys settle: their balances are in the engine once the journal is taken in.
    async fn key(&self, workspace_id: &str, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.journal.settle().await?;
        self.inner.key(workspace_id, id).await
    }

    async fn list_keys(
        &self,
        workspace_id: &str,
        filter: &KeyFilter,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.journal.settle().await?;
        self.inner.list_keys(workspace_id, filter).await
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.journal.settle().await?;
        self.inner.all_keys().await
    }

    async fn each_key(&self, each: &mut (dyn FnMut(KeyRecord) + Send)) -> Result<(), StoreError> {
        self.journal.settle().await?;
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
        self.journal.settle().await?;
        self.inner.events(workspace_id, filter).await
    }

    async fn events_ascending(
        &self,
        workspace_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.journal.settle().await?;
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
        self.journal.settle().await?;
        self.inner
            .kept_events(workspace_id, after_seq, through_seq, limit)
            .await
    }

    async fn chain_head(&self, workspace_id: &str) -> Result<Option<ChainHead>, StoreError> {
        self.journal.settle().await?;
        self.inner.chain_head(workspace_id).await
    }

    async fn checkpoint(&self, workspace_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.journal.settle().await?;
        self.inner.checkpoint(workspace_id).await
    }

    async fn anchor_point(&self, workspace_id: &str) -> Result<Option<AnchorPoint>, StoreError> {
        self.journal.settle().await?;
        self.inner.anchor_point(workspace_id).await
    }

    async fn prune_events(
        &self,
        workspace_id: &str,
        kind: EventKind,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.journal.settle().await?;
        self.inner
            .prune_events(workspace_id, kind, before, now)
            .await
    }

    async fn update_key_and_credits(
        &self,
        key: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let _fence = self.journal.fence().await?;
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
        self.journal.settle().await?;
        self.inner
            .set_workspace_policy(workspace_id, policy, event)
            .await
    }

    async fn insert_session(&self, session: &Session, event: NewEvent) -> Result<(), StoreError> {
        self.journal.settle().await?;
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
        self.journal.settle().await?;
        self.inner.end_session(token_hash, event).await
    }

    async fn insert_handover(
        &self,
        handover: &Handover,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.journal.settle().await?;
        self.inner.insert_handover(handover, event).await
    }

    async fn handover(&self, id: &str) -> Result<Option<Handover>, StoreError> {
        self.inner.handover(id).await
    }

    async fn take_handover(&self, id: &str, event: NewEvent) -> Result<bool, StoreError> {
        self.journal.settle().await?;
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
        self.journal.settle().await?;
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
        self.journal.settle().await?;
        self.inner.dismiss_advice(dismissal, event).await
    }

    async fn import_records(&self, records: &Records) -> Result<(), StoreError> {
        let _fence = self.journal.fence().await?;
        self.inner.import_records(records).await
    }

    async fn import_events(
        &self,
        workspace_id: &str,
        events: &[AuditEvent],
        head: &ChainHead,
    ) -> Result<(), StoreError> {
        self.journal.settle().await?;
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

    /// One journal record holds the balance the spend left and the event.
    async fn spend_and_record(
        &self,
        spend: RecordedSpend,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        let spend = CreditSpend {
            workspace_id: spend.workspace_id,
            key_id: spend.key_id,
            cost: spend.cost,
            now: spend.now,
            event: Some(spend.event),
        };
        self.journal.spend(spend).await
    }

    // Index snapshots.

    async fn change_at(&self, seq: i64) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
        self.inner.change_at(seq).await
    }
}
