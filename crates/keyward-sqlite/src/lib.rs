//! keyward's embedded SQLite [`Store`](keyward_core::Store): one database file in WAL mode with
//! `synchronous = FULL`, so a committed change (and the audit event recording it) survives a
//! crash or power loss. Writes go through a single connection, reads through a small pool.
//!
//! SQL only: the crate implements [`Store`](keyward_core::Store) and the small traits of
//! `keyward-storage` (`IngestTarget` for the audit journal, `SpendBatch` for credit spends);
//! the journal's driver, group commit and the chain's linking come from there and from
//! `keyward-core`.

mod advice;
mod audit;
mod changes;
mod dashboard;
// The stored forms and rows both SQL engines share, under the names the modules use.
use keyward_sql::{columns, rows};
mod error;
mod ingest;
mod keys;
mod names;
mod private_file;
mod restrictions;
mod settings;
mod spends;
mod sql;
mod store;
mod verified_prefix;
mod workspaces;

use keyward_core::StoreError;
pub use keyward_storage::JournalOptions;
use keyward_storage::{Journaled, Spender};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for another process's lock before failing with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The writer's page cache: 64 MiB (negative: in KiB), a bound, not an allocation.
const WRITER_CACHE: &str = "-65536";
/// WAL pages after which a commit checkpoints (SQLite's default is 1,000). Checkpoints run
/// inside the writer's commits; at SQLite's default each one copies megabytes at once, and on
/// a 2-core machine that burst of CPU and I/O holds up the threads verifications pass through.
/// With smaller checkpoints, verify at a high open-loop rate had the lower p99 in every
/// round of two servers alternating under `oha` (as `scripts/bench-latency` drives it); at
/// lower rates and at saturation nothing changed.
const WAL_AUTOCHECKPOINT: &str = "100";
/// Read connections for a file database; WAL lets them read while the writer writes.
const READERS: u32 = 8;

/// A [`Store`](keyward_core::Store) on SQLite.
///
/// Every write runs on the one connection of `writer`, in a `BEGIN IMMEDIATE` transaction:
/// in-process writers queue on the pool instead of spinning on SQLite's busy handler, and the
/// write lock is held from the first statement, so reading a chain head and appending after
/// it can never be interleaved with another writer.
///
/// Each append is its own transaction: wrap the store in `keyward_storage::Journaled` (see
/// [`SqliteStore::with_audit_journal`]) to put appends through the audit journal, or in
/// `keyward_storage::Grouped` to group-commit them.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The database file (`None` in memory).
    file: Option<PathBuf>,
    /// Group-commits credit spends on the writer.
    spender: Spender,
    /// Ids of the interned names in audit events, shared by every clone (the journal's
    /// ingester takes events in through one).
    names: Arc<names::Names>,
}

/// A pool's state, for metrics.
fn pool_state(pool: &SqlitePool) -> keyward_storage::PoolState {
    keyward_storage::PoolState {
        open: pool.size(),
        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        max: pool.options().get_max_connections(),
    }
}

impl SqliteStore {
    /// `metrics` with this store's connection pools: the one writer and the readers.
    pub fn with_pool_metrics(
        &self,
        metrics: keyward_storage::StorageMetrics,
    ) -> keyward_storage::StorageMetrics {
        let (writer, reader) = (self.writer.clone(), self.reader.clone());
        metrics
            .with_pool("sqlite_writer", move || pool_state(&writer))
            .with_pool("sqlite_readers", move || pool_state(&reader))
    }

    /// Opens (creating if missing) the database at `url`: `sqlite://path.db`, `sqlite:path.db`
    /// or `sqlite::memory:`. Does not migrate; call [`Store::migrate`](keyward_core::Store::migrate).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Statement journals (multi-row inserts under unique constraints keep one) stay in
            // memory instead of a temporary file written on every audit batch.
            .pragma("temp_store", "memory");

        if is_in_memory(url) {
            // Each connection to `:memory:` may be its own database, and the database is gone
            // when its last connection closes: keep exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(error::store_error)?;
            let names = Arc::<names::Names>::default();
            return Ok(Self {
                spender: Spender::start(spends::SqliteSpends(pool.clone(), names.clone())),
                writer: pool.clone(),
                reader: pool,
                file: None,
                names,
            });
        }

        private_file::create_private(options.get_filename()).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create the database file {}: {e}",
                options.get_filename().display()
            ))
        })?;
        // The writer connects first so that it switches the file to WAL. Its
        // page cache is larger than SQLite's 2 MiB default: appending audit events touches
        // the right edge of six indexes, and every page evicted is read back with a syscall.
        // Its commits checkpoint in small steps (`WAL_AUTOCHECKPOINT`).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", WRITER_CACHE)
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT),
            )
            .await
            .map_err(error::store_error)?;
        let file = Some(options.get_filename().to_owned());
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(error::store_error)?;
        let names = Arc::<names::Names>::default();
        Ok(Self {
            spender: Spender::start(spends::SqliteSpends(writer.clone(), names.clone())),
            writer,
            reader,
            file,
            names,
        })
    }

    /// The database file, or `None` for an in-memory database.
    pub fn database_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Where the audit journal of the database file `db` lives by default: beside it, as
    /// `<file>.audit-journal/` (never `<file>-journal`, which is SQLite's own name).
    pub fn default_journal_dir(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".audit-journal");
        PathBuf::from(name)
    }

    /// Puts appended events through the audit journal in `dir` (created if missing), after
    /// taking in whatever it holds from before (a crash between journal and database): the
    /// store wrapped in [`Journaled`]. Call after
    /// [`Store::migrate`](keyward_core::Store::migrate) and before serving.
    pub async fn with_audit_journal(
        self,
        dir: &Path,
        options: JournalOptions,
    ) -> Result<Journaled<Self>, StoreError> {
        Journaled::open(self, dir, options).await
    }

    /// Writes a consistent copy of the whole database, as of one moment, to the new file
    /// `path` (`VACUUM INTO`, one read transaction: writers carry on meanwhile), then makes
    /// the copy durable. The copy holds the audit events taken in by that moment; those
    /// still only in the audit journal are the caller's to add (`keyward backup`).
    pub async fn snapshot_into(&self, path: &Path) -> Result<(), StoreError> {
        let target = path.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("{} is not a UTF-8 path", path.display()))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.reader)
            .await
            .map_err(error::store_error)?;
        let synced = std::fs::File::open(path).and_then(|file| file.sync_all());
        synced.map_err(|e| {
            StoreError::Unavailable(format!("cannot sync the copy {}: {e}", path.display()))
        })
    }

    /// Copies every frame of the write-ahead log into the database file and empties the log,
    /// so that the file alone holds every committed write (a backup's copy is read as one
    /// file); an error when a reader still holds part of the log.
    pub async fn checkpoint_wal(&self) -> Result<(), StoreError> {
        let (busy, frames, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.writer)
                .await
                .map_err(error::store_error)?;
        if busy != 0 || frames != copied {
            return Err(StoreError::Unavailable(format!(
                "the write-ahead log was not checkpointed whole ({copied} of {frames} frames)"
            )));
        }
        Ok(())
    }

    /// Closes every connection, waiting for work in flight, and leaves every write in the
    /// database file: the readers close first, then the writer checkpoints the WAL (SQLite
    /// checkpoints as its last connection closes only when that one may write, and one of
    /// the read-only readers could close last). (A [`Journaled`] store closes its journal
    /// first, with `Journaled::close`.)
    pub async fn close(&self) {
        self.reader.close().await;
        if self.file.is_some() {
            if let Err(e) = self.checkpoint_wal().await {
                tracing::warn!(error = %e, "the write-ahead log was not checkpointed at close");
            }
        }
        self.writer.close().await;
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma<T>(pool: &SqlitePool, name: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        let (value,): (T,) = sqlx::query_as(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .unwrap();
        value
    }

    #[tokio::test]
    async fn every_connection_is_durable_and_enforces_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("keyward.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        for pool in [&store.writer, &store.reader] {
            assert_eq!(pragma::<String>(pool, "journal_mode").await, "wal");
            assert_eq!(pragma::<i64>(pool, "synchronous").await, 2, "2 is FULL");
            assert_eq!(pragma::<i64>(pool, "foreign_keys").await, 1);
            assert_eq!(pragma::<i64>(pool, "busy_timeout").await, 5000);
        }
        assert_eq!(store.writer.options().get_max_connections(), 1);
        // The writer's commits are the ones that checkpoint.
        assert_eq!(
            pragma::<i64>(&store.writer, "wal_autocheckpoint").await,
            100
        );
    }

    #[tokio::test]
    async fn an_in_memory_database_is_one_connection() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        assert_eq!(store.writer.options().get_max_connections(), 1);
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&store.writer)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&store.reader)
            .await
            .unwrap();
    }
}
