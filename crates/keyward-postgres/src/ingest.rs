//! What the audit journal (`keyward_storage::Journaled`) needs of PostgreSQL: the database's
//! position in the journal and the journal in use (the one row of `audit_journal`), and
//! taking a batch of journaled records into `audit_events` (and the balances their credit
//! spends left into `keys`) while advancing the position in the same transaction; the
//! balance a credit spend draws from, for the journal's ledger. One row: one journaled node per database (`keyward serve` on
//! PostgreSQL group-commits into the database instead, see the crate docs).

use crate::error::store_error;
use crate::{audit, bounded, restrictions, PostgresStore};
use async_trait::async_trait;
use keyward_core::{Credits, NewEvent, StoreError};
use keyward_storage::{final_balances, unseen, Entry, IngestTarget, JournalPosition};
use sqlx::PgExecutor;

/// Events chained and inserted per statement.
const INGEST_CHUNK: usize = 4096;

/// The database's position in the journal, and the journal in use (`None` after a clean
/// stop). `lock` reads it `FOR UPDATE`, for a transaction that advances it.
async fn position(db: impl PgExecutor<'_>, lock: bool) -> Result<JournalPosition, StoreError> {
    let sql = if lock {
        "SELECT lsn, journal_id FROM audit_journal WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT lsn, journal_id FROM audit_journal WHERE id = 1"
    };
    let (lsn, journal_id): (i64, Option<String>) = sqlx::query_as(sql)
        .fetch_one(db)
        .await
        .map_err(store_error)?;
    let lsn = u64::try_from(lsn)
        .map_err(|_| StoreError::Corrupt("negative audit journal position".into()))?;
    Ok(JournalPosition { lsn, journal_id })
}

#[async_trait]
impl IngestTarget for PostgresStore {
    async fn journal_position(&self) -> Result<JournalPosition, StoreError> {
        bounded(self.timeouts.call, position(&self.pool, false)).await
    }

    async fn bind_journal(&self, journal_id: &str) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE audit_journal SET journal_id = $1 WHERE id = 1")
            .bind(journal_id)
            .execute(&self.pool);
        bounded(self.timeouts.call, async {
            query.await.map_err(store_error)?;
            Ok(())
        })
        .await
    }

    async fn release_journal(&self, journal_id: &str) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE audit_journal SET journal_id = NULL WHERE id = 1 AND journal_id = $1",
        )
        .bind(journal_id)
        .execute(&self.pool);
        bounded(self.timeouts.call, async {
            query.await.map_err(store_error)?;
            Ok(())
        })
        .await
    }

    async fn take_in(&self, events: &[(u64, Entry)]) -> Result<(), StoreError> {
        bounded(self.timeouts.call, self.take_in_now(events)).await
    }

    async fn credit_balance(
        &self,
        workspace_id: &str,
        key_id: &str,
    ) -> Result<Option<(String, Option<Credits>)>, StoreError> {
        bounded(self.timeouts.call, async {
            let mut conn = self.pool.acquire().await.map_err(store_error)?;
            restrictions::holder_credits(&mut conn, workspace_id, key_id, false).await
        })
        .await
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }
}

impl PostgresStore {
    async fn take_in_now(&self, events: &[(u64, Entry)]) -> Result<(), StoreError> {
        let Some(through) = events.last().map(|(lsn, _)| *lsn) else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let done = position(&mut *tx, true).await?.lsn;
        let fresh = unseen(done, events)?;
        if fresh.is_empty() {
            return Ok(());
        }
        for chunk in fresh.chunks(INGEST_CHUNK) {
            // Collected rather than mapped lazily: a closure type inside this future would
            // keep it from being `Send` for every lifetime (a rustc limitation with
            // `tokio::spawn`).
            let events: Vec<&NewEvent> = chunk.iter().filter_map(|(_, e)| e.event()).collect();
            audit::append(&mut tx, events).await?;
        }
        for balance in final_balances(fresh) {
            restrictions::write_balance(&mut *tx, balance).await?;
        }
        sqlx::query("UPDATE audit_journal SET lsn = $1 WHERE id = 1")
            .bind(i64::try_from(through).map_err(|_| StoreError::Corrupt("LSN overflow".into()))?)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }
}
