//! What an engine hands the suite: fresh databases and stores open on them; and, for an
//! engine whose store the audit journal can feed, where the journal lives.

use anyhow::Result;
use async_trait::async_trait;
use keyward_core::Store;
use keyward_storage::{IngestTarget, JournalOptions, Journaled};
use std::path::{Path, PathBuf};

/// A storage engine under test. Every test asks for its own database with
/// [`Engine::create`], so tests share nothing and run in parallel.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// One database made for one test. Holding it keeps the database alive (a temporary
    /// directory, a schema); dropping it may delete it.
    type Database: Send + Sync;
    /// The engine's store.
    type Store: Store;

    /// Makes a new, empty database.
    async fn create(&self) -> Result<Self::Database>;

    /// Opens a store on `db` and migrates it (a no-op after the first time). Opening a
    /// database that was closed, or abandoned without closing (a crash), finds everything
    /// committed before.
    async fn open(&self, db: &Self::Database) -> Result<Self::Store>;

    /// Closes a store: work in flight finishes and everything it holds is released (files,
    /// locks, connections), so the same database can be opened again at once.
    async fn close(&self, store: Self::Store) -> Result<()>;

    /// Why this engine cannot run here (its database server is not configured), if it
    /// cannot: each test then says it was skipped and passes, unless
    /// `KEYWARD_REQUIRE_SERVICES=1`, which makes it fail (see [`crate::skip`]).
    fn unavailable(&self) -> Option<String> {
        None
    }
}

/// An engine whose store the audit journal can feed (it implements [`IngestTarget`]): the
/// journal chapter, and [`ThroughTheJournal`], open [`Journaled`] over its store.
pub trait JournalEngine: Engine<Store: IngestTarget> {
    /// Where the audit journal of `db` lives.
    fn journal_dir(&self, db: &Self::Database) -> PathBuf;
}

/// Opens the engine's store on `db` and puts its appends through the audit journal in
/// `dir`, after taking in whatever the journal holds from before, as a server opens it.
pub async fn open_journaled<E: JournalEngine>(
    engine: &E,
    db: &E::Database,
    dir: &Path,
) -> Result<Journaled<E::Store>> {
    let store = engine.open(db).await?;
    Ok(Journaled::open(store, dir, JournalOptions::default()).await?)
}

/// Closes a journaled store as a server does after its last request: the journal is taken
/// in and its lock released, then the engine's store lets go of what it holds.
pub async fn close_journaled<S: Store + IngestTarget>(store: Journaled<S>) -> Result<()> {
    store.shut_down().await?;
    IngestTarget::close(store.inner()).await;
    Ok(())
}

/// An engine whose every store appends through the audit journal: runs the whole suite
/// with verifications journaled, the way a server runs. It runs without the journal
/// chapter (the inner engine's run covers it).
pub struct ThroughTheJournal<E>(pub E);

#[async_trait]
impl<E: JournalEngine> Engine for ThroughTheJournal<E> {
    type Database = E::Database;
    type Store = Journaled<E::Store>;

    async fn create(&self) -> Result<Self::Database> {
        self.0.create().await
    }

    async fn open(&self, db: &Self::Database) -> Result<Self::Store> {
        open_journaled(&self.0, db, &self.0.journal_dir(db)).await
    }

    async fn close(&self, store: Self::Store) -> Result<()> {
        close_journaled(store).await
    }

    fn unavailable(&self) -> Option<String> {
        self.0.unavailable()
    }
}
