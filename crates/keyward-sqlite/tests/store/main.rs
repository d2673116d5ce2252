//! keyward-sqlite's integration tests, in one binary: the conformance suite
//! (`keyward-store-tests`) on a database file, in memory, and with every append through the
//! audit journal; then what only SQLite has: WAL on the file (`wal.rs`), file modes
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
use keyward_sqlite::{JournalOptions, SqliteStore};
use keyward_store_tests::{Engine, ThroughTheJournal};
use sqlx::Connection;
use std::path::{Path, PathBuf};

/// SQLite for the conformance suite: a database file in a temporary directory (with its
/// audit journal beside it), or one in memory.
enum SqliteEngine {
    File,
    Memory,
}

enum SqliteDatabase {
    File {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    /// An in-memory database lives as long as its one connection: the store is the database.
    Memory(SqliteStore),
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[async_trait]
impl Engine for SqliteEngine {
    type Database = SqliteDatabase;
    type Store = SqliteStore;

    async fn create(&self) -> Result<SqliteDatabase> {
        Ok(match self {
            SqliteEngine::File => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("keyward.db");
                SqliteDatabase::File { _dir: dir, path }
            }
            SqliteEngine::Memory => {
                let store = SqliteStore::connect("sqlite::memory:").await?;
                store.migrate().await?;
                SqliteDatabase::Memory(store)
            }
        })
    }

    async fn open(&self, db: &SqliteDatabase) -> Result<SqliteStore> {
        let store = match db {
            SqliteDatabase::File { path, .. } => SqliteStore::connect(&url(path)).await?,
            SqliteDatabase::Memory(store) => store.clone(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn close(&self, store: SqliteStore) -> Result<()> {
        // Closing the one connection of an in-memory database would end it.
        if store.database_file().is_some() {
            store.close().await;
        }
        Ok(())
    }

    fn journal_dir(&self, db: &SqliteDatabase) -> Option<PathBuf> {
        match db {
            SqliteDatabase::File { path, .. } => Some(SqliteStore::default_journal_dir(path)),
            SqliteDatabase::Memory(_) => None,
        }
    }

    async fn open_journaled(&self, db: &SqliteDatabase, dir: &Path) -> Result<SqliteStore> {
        let store = self.open(db).await?;
        Ok(store
            .with_audit_journal(dir, JournalOptions::default())
            .await?)
    }

    async fn journal_position(&self, db: &SqliteDatabase) -> Result<i64> {
        let SqliteDatabase::File { path, .. } = db else {
            anyhow::bail!("an in-memory database has no journal")
        };
        position(path).await
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
    keyward_store_tests::conformance!(SqliteEngine::File);
}

/// The suite on an in-memory database (what tests of the server use).
mod memory {
    use super::*;
    keyward_store_tests::conformance!(SqliteEngine::Memory);
}

/// The suite with every store appending through its audit journal, as `keyward serve` runs.
mod journaled {
    use super::*;
    keyward_store_tests::conformance!(ThroughTheJournal(SqliteEngine::File));
}
