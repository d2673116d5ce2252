//! [`Store`] for [`SqliteStore`]: each mutation writes its records and audit events in one
//! `BEGIN IMMEDIATE` transaction on the writer; reads use the reader pool.

use crate::error::store_error;
use crate::verified_prefix;
use crate::{
    advice, audit, changes, dashboard, keys, restrictions, settings, workspaces, SqliteStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::advice::{AdviceCursor, AdviceSettings, Dismissal, KeyAdvice, KeyObservations};
use keyward_core::VerifiedPrefix;
use keyward_core::{
    AnchorPoint, AuditEvent, AuditFilter, ChainHead, Change, ChangedObject, Checkpoint,
    CreditOutcome, EventKind, Handover, KeyFilter, KeyHash, KeyRecord, KeyUsage, NewEvent,
    RecordedSpend, Records, RootKey, Session, Store, StoreError, UsageIncrement, Workspace,
    WorkspacePolicy, WorkspaceSettings,
};
use sqlx::migrate::Migrator;
use sqlx::{Sqlite, Transaction};

static MIGRATOR: Migrator = sqlx::migrate!();

/// The migration that sets unchained retention checkpoints aside for adoption.
const CHAINED_CHECKPOINTS: i64 = 7;

impl SqliteStore {
    /// Starts a write transaction holding SQLite's write lock from the first statement, so it
    /// never fails halfway with SQLITE_BUSY when upgrading a read lock.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)
    }

    /// Whether migration `version` had been applied before this start.
    async fn applied(&self, version: i64) -> Result<bool, StoreError> {
        let (tracked,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.writer)
        .await
        .map_err(store_error)?;
        if tracked == 0 {
            return Ok(false);
        }
        let (applied,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = ? AND success")
                .bind(version)
                .fetch_one(&self.writer)
                .await
                .map_err(store_error)?;
        Ok(applied > 0)
    }

    /// Inserts many keys, each with its `key.created` event, in one transaction: a bulk
    /// import (and how `scripts/bench` fills a store with a million keys). Not on the
    /// [`Store`] trait: the server creates keys one at a time.
    pub async fn import_keys(
        &self,
        keys: &[KeyRecord],
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let at = events.first().map_or_else(Utc::now, |e| e.time);
        for key in keys {
            keys::insert(&mut *tx, key).await?;
            changes::record(&mut *tx, &key.workspace_id, ChangedObject::Key, &key.id, at).await?;
        }
        self.append_and_commit(tx, &events).await
    }
}

/// Records the change of `key` in the write's transaction `tx`.
async fn record_key(
    tx: &mut Transaction<'static, Sqlite>,
    key: &KeyRecord,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let (workspace, id) = (&key.workspace_id, &key.id);
    changes::record(&mut **tx, workspace, ChangedObject::Key, id, event.time).await
}

/// Records the change of `root_key` in the write's transaction `tx`.
async fn record_root_key(
    tx: &mut Transaction<'static, Sqlite>,
    root_key: &RootKey,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let (workspace, id) = (&root_key.workspace_id, &root_key.id);
    changes::record(&mut **tx, workspace, ChangedObject::RootKey, id, event.time).await
}

async fn commit(tx: Transaction<'static, Sqlite>) -> Result<(), StoreError> {
    tx.commit().await.map_err(store_error)
}

impl SqliteStore {
    /// Appends `events` to the chain inside `tx` and commits it; only then are the audit names
    /// it interned cached (a rolled-back id may be given to another name).
    async fn append_and_commit<'e>(
        &self,
        mut tx: Transaction<'static, Sqlite>,
        events: impl IntoIterator<Item = &'e NewEvent>,
    ) -> Result<(), StoreError> {
        let learned = audit::append(&mut tx, &self.names, events).await?;
        commit(tx).await?;
        self.names.learn(learned);
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let adopt = !self.applied(CHAINED_CHECKPOINTS).await?;
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        if !adopt {
            // Only the run that applies migration 0007 adopts the checkpoints it set aside: a
            // table of that name written later is not a way to put a checkpoint in the chain.
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let now = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis())
            .unwrap_or_default();
        match audit::adopt_unchained_checkpoints(&mut tx, &self.names, now).await? {
            Some(learned) => {
                commit(tx).await?;
                self.names.learn(learned);
                Ok(())
            }
            None => commit(tx).await,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        root_key: &RootKey,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        workspaces::insert(&mut *tx, workspace).await?;
        workspaces::insert_root_key(&mut *tx, root_key).await?;
        let at = events.first().map_or(workspace.created_at, |e| e.time);
        let id = &workspace.id;
        changes::record(&mut *tx, id, ChangedObject::Workspace, id, at).await?;
        changes::record(&mut *tx, id, ChangedObject::RootKey, &root_key.id, at).await?;
        self.append_and_commit(tx, &events).await
    }

    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        workspaces::all(&self.reader).await
    }

    async fn workspace_settings(&self) -> Result<Vec<WorkspaceSettings>, StoreError> {
        settings::all(&self.reader).await
    }

    async fn put_workspace_settings(
        &self,
        workspace_settings: &WorkspaceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        settings::put(&mut *tx, workspace_settings).await?;
        let id = &workspace_settings.workspace_id;
        changes::record(&mut *tx, id, ChangedObject::Workspace, id, event.time).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError> {
        settings::usage(&self.reader).await
    }

    async fn record_usage(&self, usage: Vec<UsageIncrement>) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        settings::record_usage(&mut tx, &usage).await?;
        commit(tx).await
    }

    async fn insert_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        workspaces::insert_root_key(&mut *tx, root_key).await?;
        record_root_key(&mut tx, root_key, &event).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn update_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        workspaces::update_root_key(&mut *tx, root_key).await?;
        record_root_key(&mut tx, root_key, &event).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn root_keys(&self) -> Result<Vec<RootKey>, StoreError> {
        workspaces::all_root_keys(&self.reader).await
    }

    async fn insert_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        keys::insert(&mut *tx, key).await?;
        record_key(&mut tx, key, &event).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn update_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        keys::update(&mut *tx, key).await?;
        record_key(&mut tx, key, &event).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn rotate_key(
        &self,
        old: &KeyRecord,
        new: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // The old key gives up its name (replaced_by is set) before the new one takes it.
        keys::update(&mut *tx, old).await?;
        keys::insert(&mut *tx, new).await?;
        // The balance as of this transaction, not as `old` was read: spends may have been
        // committed since.
        restrictions::copy_credits(&mut tx, &old.workspace_id, &old.id, &new.id).await?;
        // The old key first: a follower learns it was replaced before it places the new one.
        record_key(&mut tx, old, &event).await?;
        record_key(&mut tx, new, &event).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn key(&self, workspace_id: &str, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        keys::get(&self.reader, workspace_id, id).await
    }

    async fn list_keys(
        &self,
        workspace_id: &str,
        filter: &KeyFilter,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        keys::list(&self.reader, workspace_id, filter).await
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        keys::all(&self.reader).await
    }

    async fn each_key(&self, each: &mut (dyn FnMut(KeyRecord) + Send)) -> Result<(), StoreError> {
        keys::each(&self.reader, each).await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let tx = self.begin().await?;
        self.append_and_commit(tx, &events).await
    }

    async fn events(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::newest_first(&self.reader, workspace_id, filter).await
    }

    async fn events_ascending(
        &self,
        workspace_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::ascending(&self.reader, workspace_id, after_seq, limit).await
    }

    async fn kept_events(
        &self,
        workspace_id: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::kept(&self.reader, workspace_id, after_seq, through_seq, limit).await
    }

    async fn chain_head(&self, workspace_id: &str) -> Result<Option<ChainHead>, StoreError> {
        audit::head(&self.reader, workspace_id).await
    }

    async fn checkpoint(&self, workspace_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        audit::checkpoint(&self.reader, workspace_id).await
    }

    async fn anchor_point(&self, workspace_id: &str) -> Result<Option<AnchorPoint>, StoreError> {
        audit::anchor_point(&self.reader, workspace_id).await
    }

    async fn prune_events(
        &self,
        workspace_id: &str,
        kind: EventKind,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        match audit::prune(&mut tx, workspace_id, kind, before.timestamp_millis()).await? {
            Some((deleted, checkpoint)) => {
                let event = checkpoint.event(workspace_id, now);
                self.append_and_commit(tx, [&event]).await?;
                Ok(deleted)
            }
            None => {
                commit(tx).await?;
                Ok(0)
            }
        }
    }

    async fn update_key_and_credits(
        &self,
        key: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        keys::update(&mut *tx, key).await?;
        restrictions::update_credits(&mut *tx, key).await?;
        record_key(&mut tx, key, &event).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn spend_credits(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        // Group-committed with every other spend waiting (`keyward_storage::Spender`).
        self.spender.spend(workspace_id, key_id, cost, now).await
    }

    async fn workspace_policy(&self, workspace_id: &str) -> Result<WorkspacePolicy, StoreError> {
        restrictions::policy(&self.reader, workspace_id).await
    }

    async fn set_workspace_policy(
        &self,
        workspace_id: &str,
        policy: &WorkspacePolicy,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        restrictions::set_policy(&mut *tx, workspace_id, policy, event.time).await?;
        let id = workspace_id;
        changes::record(&mut *tx, id, ChangedObject::Workspace, id, event.time).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        changes::since(&self.reader, after_seq, limit).await
    }

    async fn last_change_seq(&self) -> Result<i64, StoreError> {
        changes::last(&self.reader).await
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = changes::prune(&mut *tx, before).await?;
        commit(tx).await?;
        Ok(deleted)
    }

    async fn insert_session(&self, session: &Session, event: NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        dashboard::insert_session(&mut *tx, session).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn session(&self, token_hash: &KeyHash) -> Result<Option<Session>, StoreError> {
        dashboard::session(&self.reader, token_hash).await
    }

    async fn touch_session(
        &self,
        token_hash: &KeyHash,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        dashboard::touch_session(&mut *tx, token_hash, keyward_sql::columns::millis(at)).await?;
        commit(tx).await
    }

    async fn end_session(&self, token_hash: &KeyHash, event: NewEvent) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if !dashboard::delete_session(&mut *tx, token_hash).await? {
            return Ok(false);
        }
        self.append_and_commit(tx, [&event]).await?;
        Ok(true)
    }

    async fn insert_handover(
        &self,
        handover: &Handover,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        dashboard::insert_handover(&mut *tx, handover).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn handover(&self, id: &str) -> Result<Option<Handover>, StoreError> {
        dashboard::handover(&self.reader, id).await
    }

    async fn take_handover(&self, id: &str, event: NewEvent) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if !dashboard::delete_handover(&mut *tx, id).await? {
            return Ok(false);
        }
        self.append_and_commit(tx, [&event]).await?;
        Ok(true)
    }

    async fn prune_dashboard(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = dashboard::prune(&mut tx, keyward_sql::columns::millis(now)).await?;
        commit(tx).await?;
        Ok(deleted)
    }

    async fn advice_settings(
        &self,
        workspace_id: &str,
    ) -> Result<Option<AdviceSettings>, StoreError> {
        advice::settings(&self.reader, workspace_id).await
    }

    async fn set_advice_settings(
        &self,
        workspace_id: &str,
        settings: &AdviceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        advice::set_settings(&mut *tx, workspace_id, settings).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn key_observations(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<KeyObservations>, StoreError> {
        advice::observations(&self.reader, workspace_id, key_ids).await
    }

    async fn put_key_observations(
        &self,
        observations: &[KeyObservations],
    ) -> Result<(), StoreError> {
        if observations.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        advice::put_observations(&mut tx, observations).await?;
        commit(tx).await
    }

    async fn replace_advice(
        &self,
        workspace_id: &str,
        key_ids: &[String],
        items: &[KeyAdvice],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        advice::replace(&mut tx, workspace_id, key_ids, items).await?;
        commit(tx).await
    }

    async fn advice(
        &self,
        workspace_id: &str,
        after: Option<&AdviceCursor>,
        limit: u32,
    ) -> Result<Vec<KeyAdvice>, StoreError> {
        advice::page(&self.reader, workspace_id, after, limit).await
    }

    async fn advice_dismissals(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<Dismissal>, StoreError> {
        advice::dismissals(&self.reader, workspace_id, key_ids).await
    }

    async fn dismiss_advice(
        &self,
        dismissal: &Dismissal,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        advice::dismiss(&mut tx, dismissal).await?;
        self.append_and_commit(tx, [&event]).await
    }

    async fn import_records(&self, records: &Records) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for workspace in &records.workspaces {
            workspaces::insert(&mut *tx, workspace).await?;
        }
        for workspace_settings in &records.settings {
            settings::put(&mut *tx, workspace_settings).await?;
        }
        // A policy's own time is not a record's field: it is stamped with the copy's.
        let now = Utc::now();
        for (workspace_id, policy) in &records.policies {
            restrictions::set_policy(&mut *tx, workspace_id, policy, now).await?;
        }
        for root_key in &records.root_keys {
            workspaces::insert_root_key(&mut *tx, root_key).await?;
        }
        for key in &records.keys {
            keys::insert(&mut *tx, key).await?;
        }
        let usage: Vec<UsageIncrement> = records.usage.iter().map(KeyUsage::as_increment).collect();
        settings::record_usage(&mut tx, &usage).await?;
        commit(tx).await
    }

    async fn import_events(
        &self,
        workspace_id: &str,
        events: &[AuditEvent],
        head: &ChainHead,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let learned = audit::import(&mut tx, &self.names, workspace_id, events, head).await?;
        commit(tx).await?;
        self.names.learn(learned);
        Ok(())
    }

    async fn verified_prefix(
        &self,
        workspace_id: &str,
    ) -> Result<Option<VerifiedPrefix>, StoreError> {
        verified_prefix::get(&self.reader, workspace_id).await
    }

    async fn put_verified_prefix(&self, prefix: &VerifiedPrefix) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        verified_prefix::put(&mut *tx, prefix).await?;
        commit(tx).await
    }

    async fn clear_verified_prefix(&self, workspace_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        verified_prefix::clear(&mut *tx, workspace_id).await?;
        commit(tx).await
    }

    // A credit spend and the verification that records it, as one durable write.

    /// The spend batch appends the event in the transaction that spends (one commit).
    async fn spend_and_record(
        &self,
        spend: RecordedSpend,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        self.spender.spend_and_record(spend).await
    }

    // Index snapshots.

    async fn change_at(&self, seq: i64) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
        changes::at(&self.reader, seq).await
    }
}
