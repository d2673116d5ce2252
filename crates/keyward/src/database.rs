//! Opening the database a URL names, for every command: `postgres://` or `postgresql://` is
//! PostgreSQL, anything else (`sqlite://file`, `sqlite::memory:`) SQLite. One function,
//! [`open`], so every command treats a URL the same way.
//!
//! How verification events become durable is chosen here, from the engine (see
//! ARCHITECTURE.md): a SQLite file puts them through its audit journal beside it; an
//! in-memory SQLite database and PostgreSQL group-commit them into the database
//! (`Grouped`), so on PostgreSQL an acknowledged verification is in the shared database,
//! not on the node's disk.

use anyhow::Context;
use keyward_core::{ChangeFeed, Store};
use keyward_postgres::PostgresStore;
use keyward_sqlite::{JournalOptions, SqliteStore};
use keyward_storage::{Grouped, Journaled, StorageMetrics};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the database is opened for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A command that writes a few records and exits: each append its own transaction.
    Command,
    /// `keyward serve`: appends group-committed, through the audit journal on a SQLite file
    /// (in `audit_journal`, or beside the file).
    Serve { audit_journal: Option<PathBuf> },
}

/// An open, migrated database.
pub struct Database {
    pub store: Arc<dyn Store>,
    /// The SQLite database file (`None` in memory and on PostgreSQL): files that belong with
    /// the database (the first root key, the anchor key) go beside it.
    pub file: Option<PathBuf>,
    /// Its audit commits, ingest lag and connection pools, for `/metrics`.
    pub metrics: StorageMetrics,
    engine: Engine,
}

/// What [`Database::close`] has to close.
enum Engine {
    Sqlite(SqliteStore),
    Journaled(Journaled<SqliteStore>),
    Postgres(PostgresStore),
}

impl Database {
    /// After the last request: takes every journaled event into the database and detaches
    /// the journal, or closes the connections.
    pub async fn close(self) {
        match self.engine {
            Engine::Journaled(journaled) => {
                if let Err(e) = journaled.shut_down().await {
                    tracing::error!(error = %e, "the audit journal was not fully taken in; the next start will");
                }
            }
            Engine::Sqlite(store) => store.close().await,
            Engine::Postgres(store) => store.close().await,
        }
    }

    /// How a server on this database learns of other servers' writes: on PostgreSQL, which
    /// several nodes share, by following the change log woken by its `LISTEN/NOTIFY` feed;
    /// `None` on SQLite, whose one server (its audit journal's lock) sees every write itself.
    pub fn shared_with_other_nodes(&self) -> Option<Arc<dyn ChangeFeed>> {
        match &self.engine {
            Engine::Postgres(store) => Some(Arc::new(store.change_feed())),
            Engine::Sqlite(_) | Engine::Journaled(_) => None,
        }
    }

    /// Which engine, for logs and progress.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Postgres(_) => "PostgreSQL",
            Engine::Sqlite(_) | Engine::Journaled(_) => "SQLite",
        }
    }
}

/// Opens and migrates the database at `url`, for `purpose`. A SQLite file served takes in
/// whatever its audit journal held from before (a crash) first.
pub async fn open(url: &str, purpose: Purpose) -> anyhow::Result<Database> {
    if PostgresStore::is_postgres_url(url) {
        return open_postgres(url, purpose).await;
    }
    let store = SqliteStore::connect(url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    let file = store.database_file().map(Path::to_path_buf);
    let Purpose::Serve { audit_journal } = purpose else {
        return Ok(Database {
            store: Arc::new(store.clone()),
            file,
            metrics: store.with_pool_metrics(StorageMetrics::default()),
            engine: Engine::Sqlite(store),
        });
    };
    if audit_journal.is_some() && file.is_none() {
        anyhow::bail!(
            "--audit-journal needs a database file: an in-memory database is gone at exit, and \
             a journal outliving it would not continue it"
        );
    }
    let dir = audit_journal.or_else(|| file.as_deref().map(SqliteStore::default_journal_dir));
    let Some(dir) = dir else {
        let grouped = Grouped::new(store.clone());
        return Ok(Database {
            metrics: store.with_pool_metrics(grouped.metrics()),
            store: Arc::new(grouped),
            file,
            engine: Engine::Sqlite(store),
        });
    };
    let journaled = store
        .with_audit_journal(&dir, JournalOptions::default())
        .await
        .with_context(|| format!("opening the audit journal at {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), "audit journal");
    Ok(Database {
        store: Arc::new(journaled.clone()),
        file,
        metrics: journaled.inner().with_pool_metrics(journaled.metrics()),
        engine: Engine::Journaled(journaled),
    })
}

async fn open_postgres(url: &str, purpose: Purpose) -> anyhow::Result<Database> {
    if matches!(
        &purpose,
        Purpose::Serve {
            audit_journal: Some(_)
        }
    ) {
        anyhow::bail!(
            "--audit-journal is for a SQLite file: on PostgreSQL verification events are \
             committed straight into the database"
        );
    }
    let store = PostgresStore::connect(url).context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    let (shared, metrics): (Arc<dyn Store>, _) = match purpose {
        Purpose::Command => (Arc::new(store.clone()), StorageMetrics::default()),
        Purpose::Serve { .. } => {
            let grouped = Grouped::new(store.clone());
            let metrics = grouped.metrics();
            (Arc::new(grouped), metrics)
        }
    };
    Ok(Database {
        store: shared,
        file: None,
        metrics: store.with_pool_metrics(metrics),
        engine: Engine::Postgres(store),
    })
}
