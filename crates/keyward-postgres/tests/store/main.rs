//! keyward-postgres's integration tests, in one binary: the conformance suite
//! (`keyward-store-tests`) on a scratch database per test, three ways (appends committed one
//! by one, group-committed under `Grouped` as `keyward serve` runs it, and through an audit
//! journal); then what several nodes on one database need (`nodes.rs`) and the bounds on
//! every call (`timeouts.rs`), and the weekly partitions of verification events
//! (`partitions.rs`). Each runs when
//! `KEYWARD_TEST_POSTGRES_URL` names a server (its databases are created and dropped there)
//! and otherwise prints that it was skipped.

mod bulk;
mod feed;
mod nodes;
mod partitions;
mod timeouts;

use anyhow::{Context, Result};
use async_trait::async_trait;
use keyward_core::Store;
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::{PostgresStore, Timeouts};
use keyward_storage::Grouped;
use keyward_store_tests::{Engine, JournalEngine, ThroughTheJournal};
use std::path::PathBuf;
use std::time::Duration;

/// Where the tests find a PostgreSQL server.
const SERVER_VAR: &str = "KEYWARD_TEST_POSTGRES_URL";

/// The server's URL, if the environment names one.
fn server() -> Option<String> {
    std::env::var(SERVER_VAR).ok()
}

fn unavailable() -> Option<String> {
    server().is_none().then(|| {
        format!("{SERVER_VAR} is not set; set {SERVER_VAR}=postgres://postgres@127.0.0.1:5432/test")
    })
}

/// A scratch database, and a directory for its audit journal when a test puts one in front.
struct Database {
    scratch: ScratchDatabase,
    journal: tempfile::TempDir,
}

async fn create() -> Result<Database> {
    let server = server().context("no PostgreSQL server")?;
    Ok(Database {
        scratch: ScratchDatabase::create(&server).await?,
        journal: tempfile::tempdir()?,
    })
}

/// The suite judges behaviour, not speed: a machine busy with other tests must not turn a
/// wait for a connection into a failure. The timeouts themselves are tested in `timeouts.rs`.
fn patient() -> Timeouts {
    let generous = Duration::from_secs(60);
    Timeouts {
        acquire: generous,
        statement: generous,
        idle_in_transaction: generous,
        call: generous * 2,
        ..Timeouts::default()
    }
}

async fn open(db: &Database) -> Result<PostgresStore> {
    let store = PostgresStore::connect_with(db.scratch.url(), patient())?;
    store.migrate().await?;
    Ok(store)
}

/// PostgreSQL, each append its own transaction.
struct Postgres;

#[async_trait]
impl Engine for Postgres {
    type Database = Database;
    type Store = PostgresStore;

    async fn create(&self) -> Result<Database> {
        create().await
    }

    async fn open(&self, db: &Database) -> Result<PostgresStore> {
        open(db).await
    }

    async fn close(&self, store: PostgresStore) -> Result<()> {
        store.close().await;
        Ok(())
    }

    fn unavailable(&self) -> Option<String> {
        unavailable()
    }
}

impl JournalEngine for Postgres {
    fn journal_dir(&self, db: &Database) -> PathBuf {
        db.journal.path().join("audit-journal")
    }
}

/// PostgreSQL with its appends group-committed, as `keyward serve` runs it.
struct PostgresGrouped;

#[async_trait]
impl Engine for PostgresGrouped {
    type Database = Database;
    type Store = Grouped<PostgresStore>;

    async fn create(&self) -> Result<Database> {
        create().await
    }

    async fn open(&self, db: &Database) -> Result<Grouped<PostgresStore>> {
        Ok(Grouped::new(open(db).await?))
    }

    async fn close(&self, store: Grouped<PostgresStore>) -> Result<()> {
        store.inner().close().await;
        Ok(())
    }

    fn unavailable(&self) -> Option<String> {
        unavailable()
    }
}

/// The suite with each append its own transaction, and the journal chapter.
mod direct {
    use super::*;
    keyward_store_tests::conformance!(Postgres);
}

/// The suite with appends group-committed.
mod grouped {
    use super::*;
    keyward_store_tests::conformance!(PostgresGrouped; without journal);
}

/// The suite with every store appending through its audit journal.
mod journaled {
    use super::*;
    keyward_store_tests::conformance!(ThroughTheJournal(Postgres); without journal);
}
