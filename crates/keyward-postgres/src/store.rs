//! [`Store`] for [`PostgresStore`]: each mutation writes its records and audit events in one
//! transaction (PostgreSQL's default, read committed: what needs to be serialised is locked
//! row by row, see the crate docs); every call is bounded by [`Timeouts`](crate::Timeouts).

use crate::error::store_error;
use crate::verified_prefix;
use crate::{
    advice, audit, bounded, changes, dashboard, keys, partitions, restrictions, settings,
    workspaces, PostgresStore,
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
use sqlx::postgres::PgPoolOptions;
use sqlx::{Postgres, Transaction};
use std::future::Future;

static MIGRATOR: Migrator = sqlx::migrate!();

type Tx = Transaction<'static, Postgres>;

impl PostgresStore {
    async fn begin(&self) -> Result<Tx, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }

    /// `call` bounded by the call timeout.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeouts.call, call).await
    }

    /// A transaction whose statements may take the bulk timeout instead of the statement
    /// timeout: reading every key at startup (a million keys take seconds), copying a
    /// database. Callers bound the whole call by the bulk timeout.
    async fn begin_bulk(&self) -> Result<Tx, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "SET LOCAL statement_timeout = {}",
            self.timeouts.bulk.as_millis()
        ))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        Ok(tx)
    }

    /// Appends `events` to their chains inside `tx` and commits it.
    async fn append_and_commit<'e>(
        mut tx: Tx,
        events: impl IntoIterator<Item = &'e NewEvent>,
    ) -> Result<(), StoreError> {
        audit::append(&mut tx, events).await?;
        tx.commit().await.map_err(store_error)
    }

    /// Inserts many keys, each with its `key.created` event, in one transaction: a bulk
    /// import (benchmarks fill a store with a million keys this way). Not on the [`Store`]
    /// trait: the server creates keys one at a time. Bounded by the bulk timeout.
    pub async fn import_keys(
        &self,
        keys: &[KeyRecord],
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        bounded(self.timeouts.bulk, async {
            let mut tx = self.begin_bulk().await?;
            keys::insert_many(&mut *tx, keys).await?;
            let changed: Vec<_> = keys
                .iter()
                .map(|k| (k.workspace_id.as_str(), ChangedObject::Key, k.id.as_str()))
                .collect();
            let at = events.first().map_or_else(Utc::now, |e| e.time);
            changes::record(&mut tx, &changed, at).await?;
            Self::append_and_commit(tx, &events).await
        })
        .await
    }
}

/// Records the change of each of `keys` in the write's transaction `tx`.
async fn record_keys(tx: &mut Tx, keys: &[&KeyRecord], event: &NewEvent) -> Result<(), StoreError> {
    let changed: Vec<_> = keys
        .iter()
        .map(|k| (k.workspace_id.as_str(), ChangedObject::Key, k.id.as_str()))
        .collect();
    changes::record(tx, &changed, event.time).await
}

/// Records the change of `root_key` in the write's transaction `tx`.
async fn record_root_key(
    tx: &mut Tx,
    root_key: &RootKey,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let changed = [(
        root_key.workspace_id.as_str(),
        ChangedObject::RootKey,
        root_key.id.as_str(),
    )];
    changes::record(tx, &changed, event.time).await
}

#[async_trait]
impl Store for PostgresStore {
    /// On a connection of its own, with the bulk timeout as its statement timeout: sqlx takes
    /// an advisory lock for the run, so nodes starting together migrate one after another.
    async fn migrate(&self) -> Result<(), StoreError> {
        bounded(self.timeouts.bulk, async {
            let options = (*self.options).clone().options([(
                "statement_timeout",
                self.timeouts.bulk.as_millis().to_string(),
            )]);
            // A pool of one (sqlx's migrator takes a pool more readily than a connection).
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(self.timeouts.acquire)
                .connect_with(options)
                .await
                .map_err(store_error)?;
            let run = MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")));
            pool.close().await;
            run?;
            partitions::create_ahead(&self.pool, chrono::Utc::now().timestamp_millis()).await
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.call(async {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            Ok(())
        })
        .await
    }

    async fn create_workspace(
        &self,
        workspace: &Workspace,
        root_key: &RootKey,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            workspaces::insert(&mut *tx, workspace).await?;
            workspaces::insert_root_key(&mut *tx, root_key).await?;
            let id = workspace.id.as_str();
            let changed = [
                (id, ChangedObject::Workspace, id),
                (id, ChangedObject::RootKey, root_key.id.as_str()),
            ];
            let at = events.first().map_or(workspace.created_at, |e| e.time);
            changes::record(&mut tx, &changed, at).await?;
            Self::append_and_commit(tx, &events).await
        })
        .await
    }

    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.call(workspaces::all(&self.pool)).await
    }

    async fn workspace_settings(&self) -> Result<Vec<WorkspaceSettings>, StoreError> {
        self.call(settings::all(&self.pool)).await
    }

    async fn put_workspace_settings(
        &self,
        workspace_settings: &WorkspaceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            settings::put(&mut *tx, workspace_settings).await?;
            let id = workspace_settings.workspace_id.as_str();
            changes::record(&mut tx, &[(id, ChangedObject::Workspace, id)], event.time).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError> {
        bounded(self.timeouts.bulk, async {
            let mut tx = self.begin_bulk().await?;
            let usage = settings::usage(&mut *tx).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(usage)
        })
        .await
    }

    async fn record_usage(&self, usage: Vec<UsageIncrement>) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        self.call(async {
            let mut tx = self.begin().await?;
            settings::record_usage(&mut tx, &usage).await?;
            tx.commit().await.map_err(store_error)
        })
        .await
    }

    async fn insert_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            workspaces::insert_root_key(&mut *tx, root_key).await?;
            record_root_key(&mut tx, root_key, &event).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn update_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            workspaces::update_root_key(&mut *tx, root_key).await?;
            record_root_key(&mut tx, root_key, &event).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn root_keys(&self) -> Result<Vec<RootKey>, StoreError> {
        self.call(workspaces::all_root_keys(&self.pool)).await
    }

    async fn insert_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            keys::insert(&mut *tx, key).await?;
            record_keys(&mut tx, &[key], &event).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn update_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            keys::update(&mut *tx, key).await?;
            record_keys(&mut tx, &[key], &event).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn rotate_key(
        &self,
        old: &KeyRecord,
        new: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            // The old key gives up its name (replaced_by is set) before the new one takes it;
            // the update locks the old key's row, so a spend on it waits for the rotation and
            // then follows it to the new key.
            keys::update(&mut *tx, old).await?;
            keys::insert(&mut *tx, new).await?;
            // The balance as of this statement, not as `old` was read: spends may have been
            // committed since.
            restrictions::copy_credits(&mut tx, &old.workspace_id, &old.id, &new.id).await?;
            // The old key first: a follower learns it was replaced before it places the new one.
            record_keys(&mut tx, &[old, new], &event).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn key(&self, workspace_id: &str, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.call(keys::get(&self.pool, workspace_id, id)).await
    }

    async fn list_keys(
        &self,
        workspace_id: &str,
        filter: &KeyFilter,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.call(keys::list(&self.pool, workspace_id, filter))
            .await
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        bounded(self.timeouts.bulk, async {
            let mut tx = self.begin_bulk().await?;
            let keys = keys::all(&mut *tx).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(keys)
        })
        .await
    }

    async fn each_key(&self, each: &mut (dyn FnMut(KeyRecord) + Send)) -> Result<(), StoreError> {
        bounded(self.timeouts.bulk, async {
            let mut tx = self.begin_bulk().await?;
            keys::each(&mut *tx, each).await?;
            tx.commit().await.map_err(store_error)
        })
        .await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.call(async {
            let tx = self.begin().await?;
            Self::append_and_commit(tx, &events).await
        })
        .await
    }

    async fn events(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.call(audit::newest_first(&self.pool, workspace_id, filter))
            .await
    }

    async fn events_ascending(
        &self,
        workspace_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.call(audit::ascending(&self.pool, workspace_id, after_seq, limit))
            .await
    }

    async fn kept_events(
        &self,
        workspace_id: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.call(audit::kept(
            &self.pool,
            workspace_id,
            after_seq,
            through_seq,
            limit,
        ))
        .await
    }

    async fn chain_head(&self, workspace_id: &str) -> Result<Option<ChainHead>, StoreError> {
        self.call(audit::head(&self.pool, workspace_id)).await
    }

    async fn checkpoint(&self, workspace_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.call(audit::checkpoint(&self.pool, workspace_id)).await
    }

    async fn anchor_point(&self, workspace_id: &str) -> Result<Option<AnchorPoint>, StoreError> {
        self.call(audit::anchor_point(&self.pool, workspace_id))
            .await
    }

    async fn prune_events(
        &self,
        workspace_id: &str,
        kind: EventKind,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.call(async {
            partitions::create_ahead(&self.pool, now.timestamp_millis()).await?;
            let mut tx = self.begin().await?;
            match audit::prune(&mut tx, workspace_id, kind, before.timestamp_millis()).await? {
                Some((deleted, checkpoint)) => {
                    let event = checkpoint.event(workspace_id, now);
                    Self::append_and_commit(tx, [&event]).await?;
                    Ok(deleted)
                }
                // Rolled back: nothing to keep (not even the head that locking may have made).
                None => Ok(0),
            }
        })
        .await
    }

    async fn update_key_and_credits(
        &self,
        key: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            keys::update(&mut *tx, key).await?;
            restrictions::update_credits(&mut *tx, key).await?;
            record_keys(&mut tx, &[key], &event).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn spend_credits(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        // Group-committed with every other spend waiting (`keyward_storage::Spender`); the
        // batch itself is bounded by the call timeout.
        self.call(self.spender.spend(workspace_id, key_id, cost, now))
            .await
    }

    async fn workspace_policy(&self, workspace_id: &str) -> Result<WorkspacePolicy, StoreError> {
        self.call(restrictions::policy(&self.pool, workspace_id))
            .await
    }

    async fn set_workspace_policy(
        &self,
        workspace_id: &str,
        policy: &WorkspacePolicy,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            restrictions::set_policy(&mut *tx, workspace_id, policy, event.time).await?;
            let id = workspace_id;
            changes::record(&mut tx, &[(id, ChangedObject::Workspace, id)], event.time).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        self.call(changes::since(&self.pool, after_seq, limit))
            .await
    }

    async fn last_change_seq(&self) -> Result<i64, StoreError> {
        self.call(changes::last(&self.pool)).await
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.call(changes::prune(&self.pool, before)).await
    }

    async fn insert_session(&self, session: &Session, event: NewEvent) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            dashboard::insert_session(&mut *tx, session).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn session(&self, token_hash: &KeyHash) -> Result<Option<Session>, StoreError> {
        self.call(dashboard::session(&self.pool, token_hash)).await
    }

    async fn touch_session(
        &self,
        token_hash: &KeyHash,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = keyward_sql::columns::millis(at);
        self.call(dashboard::touch_session(&self.pool, token_hash, at))
            .await
    }

    async fn end_session(&self, token_hash: &KeyHash, event: NewEvent) -> Result<bool, StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            if !dashboard::delete_session(&mut *tx, token_hash).await? {
                return Ok(false);
            }
            Self::append_and_commit(tx, [&event]).await?;
            Ok(true)
        })
        .await
    }

    async fn insert_handover(
        &self,
        handover: &Handover,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            dashboard::insert_handover(&mut *tx, handover).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn handover(&self, id: &str) -> Result<Option<Handover>, StoreError> {
        self.call(dashboard::handover(&self.pool, id)).await
    }

    /// The `DELETE` locks the row: of two nodes taking one link, the second waits for the
    /// first to commit and then deletes nothing.
    async fn take_handover(&self, id: &str, event: NewEvent) -> Result<bool, StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            if !dashboard::delete_handover(&mut *tx, id).await? {
                return Ok(false);
            }
            Self::append_and_commit(tx, [&event]).await?;
            Ok(true)
        })
        .await
    }

    async fn prune_dashboard(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            let deleted = dashboard::prune(&mut tx, keyward_sql::columns::millis(now)).await?;
            tx.commit().await.map_err(store_error)?;
            Ok(deleted)
        })
        .await
    }

    /// Bounded by the bulk timeout: a copy writes every key in one call.
    async fn advice_settings(
        &self,
        workspace_id: &str,
    ) -> Result<Option<AdviceSettings>, StoreError> {
        self.call(advice::settings(&self.pool, workspace_id)).await
    }

    async fn set_advice_settings(
        &self,
        workspace_id: &str,
        settings: &AdviceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            advice::set_settings(&mut *tx, workspace_id, settings).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn key_observations(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<KeyObservations>, StoreError> {
        self.call(advice::observations(&self.pool, workspace_id, key_ids))
            .await
    }

    async fn put_key_observations(
        &self,
        observations: &[KeyObservations],
    ) -> Result<(), StoreError> {
        if observations.is_empty() {
            return Ok(());
        }
        self.call(async {
            let mut tx = self.begin().await?;
            advice::put_observations(&mut tx, observations).await?;
            tx.commit().await.map_err(store_error)
        })
        .await
    }

    async fn replace_advice(
        &self,
        workspace_id: &str,
        key_ids: &[String],
        items: &[KeyAdvice],
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            advice::replace(&mut tx, workspace_id, key_ids, items).await?;
            tx.commit().await.map_err(store_error)
        })
        .await
    }

    async fn advice(
        &self,
        workspace_id: &str,
        after: Option<&AdviceCursor>,
        limit: u32,
    ) -> Result<Vec<KeyAdvice>, StoreError> {
        self.call(advice::page(&self.pool, workspace_id, after, limit))
            .await
    }

    async fn advice_dismissals(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<Dismissal>, StoreError> {
        self.call(advice::dismissals(&self.pool, workspace_id, key_ids))
            .await
    }

    async fn dismiss_advice(
        &self,
        dismissal: &Dismissal,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.call(async {
            let mut tx = self.begin().await?;
            advice::dismiss(&mut tx, dismissal).await?;
            Self::append_and_commit(tx, [&event]).await
        })
        .await
    }

    async fn import_records(&self, records: &Records) -> Result<(), StoreError> {
        bounded(self.timeouts.bulk, async {
            let mut tx = self.begin_bulk().await?;
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
            keys::insert_many(&mut *tx, &records.keys).await?;
            if !records.usage.is_empty() {
                let usage: Vec<UsageIncrement> =
                    records.usage.iter().map(KeyUsage::as_increment).collect();
                settings::record_usage(&mut tx, &usage).await?;
            }
            tx.commit().await.map_err(store_error)
        })
        .await
    }

    async fn import_events(
        &self,
        workspace_id: &str,
        events: &[AuditEvent],
        head: &ChainHead,
    ) -> Result<(), StoreError> {
        bounded(self.timeouts.bulk, async {
            let mut tx = self.begin_bulk().await?;
            audit::import(&mut tx, workspace_id, events, head).await?;
            tx.commit().await.map_err(store_error)
        })
        .await
    }

    async fn verified_prefix(
        &self,
        workspace_id: &str,
    ) -> Result<Option<VerifiedPrefix>, StoreError> {
        self.call(verified_prefix::get(&self.pool, workspace_id))
            .await
    }

    async fn put_verified_prefix(&self, prefix: &VerifiedPrefix) -> Result<(), StoreError> {
        self.call(verified_prefix::put(&self.pool, prefix)).await
    }

    async fn clear_verified_prefix(&self, workspace_id: &str) -> Result<(), StoreError> {
        self.call(verified_prefix::clear(&self.pool, workspace_id))
            .await
    }

    // A credit spend and the verification that records it, as one durable write.

    /// The spend batch appends the event in the transaction that spends (one commit).
    async fn spend_and_record(
        &self,
        spend: RecordedSpend,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        self.call(self.spender.spend_and_record(spend)).await
    }

    // Index snapshots.

    async fn change_at(&self, seq: i64) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
        self.call(changes::at(&self.pool, seq)).await
    }
}
