//! A batch of credit spends in SQL, for `keyward_storage::Spender`, which group-commits them:
//! applied in order in one transaction, each spend reading the balance the one before it left,
//! and the verification events the spends carry appended in it (one commit for both).
//! The batch first locks every key it names (`FOR UPDATE`, in id order), so batches on two
//! nodes touching the same keys run one after the other instead of deadlocking.

use crate::error::store_error;
use crate::{audit, bounded, restrictions, Timeouts};
use async_trait::async_trait;
use keyward_core::StoreError;
use keyward_storage::{recorded_events, Spend, SpendAnswer, SpendBatch};
use sqlx::PgPool;

/// Applies spends on the pool.
#[derive(Debug, Clone)]
pub(crate) struct PostgresSpends {
    pub(crate) pool: PgPool,
    pub(crate) timeouts: Timeouts,
}

#[async_trait]
impl SpendBatch for PostgresSpends {
    async fn apply_spends(&self, spends: &[Spend]) -> Result<Vec<SpendAnswer>, StoreError> {
        bounded(self.timeouts.call, apply(&self.pool, spends)).await
    }
}

/// Applies `batch` in order in one transaction and commits it. A database failure fails the
/// whole batch (nothing is committed); a key whose stored credits cannot be read fails only
/// its own spends, since nothing was written for it.
async fn apply(pool: &PgPool, batch: &[Spend]) -> Result<Vec<SpendAnswer>, StoreError> {
    let mut tx = pool.begin().await.map_err(store_error)?;
    let mut named: Vec<(&str, &str)> = batch
        .iter()
        .map(|s| (s.workspace_id.as_str(), s.key_id.as_str()))
        .collect();
    named.sort_unstable();
    named.dedup();
    let (workspaces, keys): (Vec<&str>, Vec<&str>) = named.into_iter().unzip();
    sqlx::query(
        "SELECT 1 FROM keys WHERE (workspace_id, id) IN \
         (SELECT * FROM UNNEST($1::text[], $2::text[])) ORDER BY id FOR UPDATE",
    )
    .bind(workspaces)
    .bind(keys)
    .execute(&mut *tx)
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
            // The database failed: the transaction is aborted.
            Err(e) => return Err(e),
        }
    }
    let events = recorded_events(batch, &answers);
    audit::append(&mut tx, events.iter()).await?;
    // Committed (durable, with PostgreSQL's default `synchronous_commit`) before any spend is
    // answered.
    tx.commit().await.map_err(store_error)?;
    Ok(answers)
}
