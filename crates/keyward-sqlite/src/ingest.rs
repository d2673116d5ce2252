//! What the audit journal (`keyward_storage::Journaled`) needs of SQLite: the database's
//! position in the journal and the journal in use (the one row of `audit_journal`), and
//! taking a batch of journaled records into `audit_events` (and the balances their credit
//! spends left into `keys`) while advancing the position in the same transaction; the
//! balance a credit spend draws from, for the journal's ledger.

use crate::error::store_error;
use crate::names::Learned;
use crate::{audit, restrictions, SqliteStore};
use async_trait::async_trait;
use keyward_core::{Credits, NewEvent, StoreError};
use keyward_storage::{final_balances, unseen, Entry, IngestTarget, JournalPosition};
use sqlx::SqliteExecutor;

/// Events chained and inserted between yields to the runtime.
const INGEST_CHUNK: usize = 256;

/// The database's position in the journal, and the journal in use (`None` after a clean
/// stop).
async fn position(db: impl SqliteExecutor<'_>) -> Result<JournalPosition, StoreError> {
    let (lsn, journal_id): (i64, Option<String>) =
        sqlx::query_as("SELECT lsn, journal_id FROM audit_journal WHERE id = 1")
            .fetch_one(db)
            .await
            .map_err(store_error)?;
    let lsn = u64::try_from(lsn)
        .map_err(|_| StoreError::Corrupt("negative audit journal position".into()))?;
    Ok(JournalPosition { lsn, journal_id })
}

#[async_trait]
impl IngestTarget for SqliteStore {
    async fn journal_position(&self) -> Result<JournalPosition, StoreError> {
        position(&self.writer).await
    }

    async fn bind_journal(&self, journal_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE audit_journal SET journal_id = ? WHERE id = 1")
            .bind(journal_id)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release_journal(&self, journal_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE audit_journal SET journal_id = NULL WHERE id = 1 AND journal_id = ?")
            .bind(journal_id)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn take_in(&self, events: &[(u64, Entry)]) -> Result<(), StoreError> {
        let Some(through) = events.last().map(|(lsn, _)| *lsn) else {
            return Ok(());
        };
        let mut tx = self.begin().await?;
        let done = position(&mut *tx).await?.lsn;
        let fresh = unseen(done, events)?;
        if fresh.is_empty() {
            return Ok(());
        }
        // In slices, yielding between them: chaining and encoding thousands of events in one
        // poll would hold a runtime worker (and the requests queued on it) for milliseconds.
        let mut learned = Learned::default();
        for chunk in fresh.chunks(INGEST_CHUNK) {
            // Collected rather than mapped lazily: a closure type inside this future would
            // keep it from being `Send` for every lifetime (a rustc limitation with
            // `tokio::spawn`).
            let events: Vec<&NewEvent> = chunk.iter().filter_map(|(_, e)| e.event()).collect();
            learned.extend(audit::append(&mut tx, &self.names, events).await?);
            tokio::task::yield_now().await;
        }
        for balance in final_balances(fresh) {
            restrictions::write_balance(&mut *tx, balance).await?;
        }
        sqlx::query("UPDATE audit_journal SET lsn = ? WHERE id = 1")
            .bind(i64::try_from(through).map_err(|_| StoreError::Corrupt("LSN overflow".into()))?)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.names.learn(learned);
        Ok(())
    }

    async fn credit_balance(
        &self,
        workspace_id: &str,
        key_id: &str,
    ) -> Result<Option<(String, Option<Credits>)>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(store_error)?;
        restrictions::holder_credits(&mut conn, workspace_id, key_id).await
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}
