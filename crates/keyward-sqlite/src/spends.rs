//! A batch of credit spends in SQL, for `keyward_storage::Spender`, which group-commits them:
//! applied in order in one `BEGIN IMMEDIATE` transaction on the writer, committed with one
//! `fsync`, each spend reading the balance the one before it left, and the verification
//! events the spends carry appended in it (one commit for both).

use crate::error::store_error;
use crate::names::Names;
use crate::{audit, restrictions};
use async_trait::async_trait;
use keyward_core::StoreError;
use keyward_storage::{recorded_events, Spend, SpendAnswer, SpendBatch};
use sqlx::SqlitePool;
use std::sync::Arc;

/// Applies spends on the writer.
#[derive(Debug, Clone)]
pub(crate) struct SqliteSpends(pub(crate) SqlitePool, pub(crate) Arc<Names>);

#[async_trait]
impl SpendBatch for SqliteSpends {
    async fn apply_spends(&self, spends: &[Spend]) -> Result<Vec<SpendAnswer>, StoreError> {
        apply(&self.0, &self.1, spends).await
    }
}

/// Applies `batch` in order in one write transaction and commits it. A database failure
/// fails the whole batch (nothing is committed); a key whose stored credits cannot be read
/// fails only its own spends, since nothing was written for it.
async fn apply(
    writer: &SqlitePool,
    names: &Names,
    batch: &[Spend],
) -> Result<Vec<SpendAnswer>, StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)?;
    let mut answers = Vec::with_capacity(batch.len());
    for spend in batch {
        let answer = restrictions::spend(
            &mut tx,
            &spend.workspace_id,
            &spend.key_id,
            spend.cost,
            spend.now,
        )
        .await;
        match answer {
            // Raised before this key's `UPDATE` (a row that does not decode), or by an `UPDATE`
            // that changed nothing: the transaction is intact and holds nothing of this spend.
            Ok(_) | Err(StoreError::Corrupt(_) | StoreError::NotFound) => answers.push(answer),
            // The database failed (SQLite may have rolled the transaction back already).
            Err(e) => return Err(e),
        }
    }
    let events = recorded_events(batch, &answers);
    let learned = audit::append(&mut tx, names, events.iter()).await?;
    // Committed (and, with `synchronous = FULL`, on disk) before any spend is answered.
    tx.commit().await.map_err(store_error)?;
    names.learn(learned);
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use chrono::Utc;
    use keyward_core::ids::{self, new_id};
    use keyward_core::{
        CreditOutcome, Credits, EventKind, KeyHash, KeyRecord, NewEvent, Restrictions, RootKey,
        Store, Workspace,
    };

    /// A spend whose caller has gone before its batch is applied takes nothing.
    #[tokio::test]
    async fn a_spend_whose_caller_has_gone_takes_nothing() -> anyhow::Result<()> {
        let store = SqliteStore::connect("sqlite::memory:").await?;
        store.migrate().await?;
        let t0 = Utc::now();
        let ws = Workspace {
            id: new_id(ids::WORKSPACE),
            name: "Spends".into(),
            prefix: "sp".into(),
            created_at: t0,
        };
        let root = RootKey {
            id: new_id(ids::ROOT_KEY),
            workspace_id: ws.id.clone(),
            name: "bootstrap".into(),
            hash: KeyHash::of("sp_root_secret"),
            start: "sp_root_".into(),
            permissions: vec![],
            created_at: t0,
            revoked_at: None,
        };
        let created = NewEvent::new(&ws.id, t0, EventKind::WorkspaceCreated);
        store.create_workspace(&ws, &root, vec![created]).await?;
        let key = KeyRecord {
            imported: false,
            id: new_id(ids::KEY),
            workspace_id: ws.id.clone(),
            name: "Metered Integration".into(),
            description: None,
            owner_id: None,
            hash: KeyHash::of("sp_secret"),
            start: "sp_abcd".into(),
            permissions: vec![],
            enabled: true,
            expires_at: None,
            metadata: Default::default(),
            created_at: t0,
            updated_at: t0,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: Restrictions {
                credits: Some(Credits::new(5, None, t0)?),
                ..Restrictions::default()
            },
        };
        let event = NewEvent::new(&ws.id, t0, EventKind::KeyCreated).subject(&key.id, &key.name);
        store.insert_key(&key, event).await?;

        // Queued first, its caller already gone; then a live spend, answered after its batch.
        drop(store.spender.enqueue(Spend {
            workspace_id: ws.id.clone(),
            key_id: key.id.clone(),
            cost: 1,
            now: t0,
            event: None,
        })?);
        let live = store.spender.spend(&ws.id, &key.id, 1, t0).await?;
        assert_eq!(live, Some(CreditOutcome::Spent { remaining: 4 }));
        Ok(())
    }
}
