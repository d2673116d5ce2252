//! keyward-sqlite's integration tests, in one binary: the conformance suite
//! (`keyward-store-tests`) on a database file (its journal chapter with `Journaled` over
//! `SqliteStore`), in memory (appends grouped), and with every append through the audit
//! journal; then what only SQLite has: WAL on the file (`wal.rs`), file modes
//! (`file_modes.rs`), the audit journal when the database fails or is swapped under it
//! (`journal.rs`), a stored balance SQLite cannot read (`restrictions.rs`), upgrading a
//! database written by an older schema (`upgrade.rs`) and its retention checkpoints
//! (`checkpoints.rs`).

mod checkpoints;
#[cfg(unix)]
mod file_modes;
mod journal;
mod restrictions;
mod upgrade;
mod wal;

use anyhow::Result;
use async_trait::async_trait;
use keyward_core::Store;
use keyward_sqlite::SqliteStore;
use keyward_storage::Grouped;
use keyward_store_tests::{Engine, JournalEngine, ThroughTheJournal};
use sqlx::Connection;
use std::path::{Path, PathBuf};

/// SQLite on a database file in a temporary directory, with its audit journal beside it.
struct SqliteFile;

struct TempDatabase {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[async_trait]
impl Engine for SqliteFile {
    type Database = TempDatabase;
    type Store = SqliteStore;

    async fn create(&self) -> Result<TempDatabase> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keyward.db");
        Ok(TempDatabase { _dir: dir, path })
    }

    async fn open(&self, db: &TempDatabase) -> Result<SqliteStore> {
        let store = SqliteStore::connect(&url(&db.path)).await?;
        store.migrate().await?;
        Ok(store)
    }

    async fn close(&self, store: SqliteStore) -> Result<()> {
        store.close().await;
        Ok(())
    }
}

impl JournalEngine for SqliteFile {
    fn journal_dir(&self, db: &TempDatabase) -> PathBuf {
        SqliteStore::default_journal_dir(&db.path)
    }
}

/// SQLite in memory, its appends group-committed (`Grouped`), as a server without a database
/// file runs it. The database lives as long as its one connection: the store is the
/// database, and closing it is left to the last handle.
struct SqliteInMemory;

#[async_trait]
impl Engine for SqliteInMemory {
    type Database = SqliteStore;
    type Store = Grouped<SqliteStore>;

    async fn create(&self) -> Result<SqliteStore> {
        Ok(SqliteStore::connect("sqlite::memory:").await?)
    }

    async fn open(&self, db: &SqliteStore) -> Result<Grouped<SqliteStore>> {
        db.migrate().await?;
        Ok(Grouped::new(db.clone()))
    }

    async fn close(&self, _store: Grouped<SqliteStore>) -> Result<()> {
        Ok(())
    }
}

/// The database's position in the journal (`audit_journal.lsn`), read on its own connection.
async fn position(db: &Path) -> Result<i64> {
    let mut conn = sqlx::SqliteConnection::connect(&url(db)).await?;
    let (lsn,): (i64,) = sqlx::query_as("SELECT lsn FROM audit_journal WHERE id = 1")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(lsn)
}

/// The suite on a database file, reopened where a test closes it.
mod file {
    use super::*;
    keyward_store_tests::conformance!(SqliteFile);
}

/// The suite in memory, appends group-committed.
mod memory {
    use super::*;
    keyward_store_tests::conformance!(SqliteInMemory; without journal);
}

/// The suite with every store appending through its audit journal, as `keyward serve` runs.
mod journaled {
    use super::*;
    keyward_store_tests::conformance!(ThroughTheJournal(SqliteFile); without journal);
}
