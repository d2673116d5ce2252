//! What an engine hands the suite: fresh databases, stores open on them, and (if it has one)
//! its audit journal.

use anyhow::{bail, Result};
use async_trait::async_trait;
use keyward_core::Store;
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
    /// The engine's store with its appends going through the audit journal (an engine
    /// without one names any `Store` here; the suite never opens it).
    type Journaled: Store;

    /// Makes a new, empty database.
    async fn create(&self) -> Result<Self::Database>;

    /// Opens a store on `db` and migrates it (a no-op after the first time). Opening a
    /// database that was closed, or abandoned without closing (a crash), finds everything
    /// committed before.
    async fn open(&self, db: &Self::Database) -> Result<Self::Store>;

    /// Closes a store: work in flight finishes and everything it holds is released (files,
    /// locks, connections), so the same database can be opened again at once.
    async fn close(&self, store: Self::Store) -> Result<()>;

    /// Whether this engine's stores append through an audit journal: an append is then
    /// answered once the journal holds it, and the database sees the events only when it takes
    /// them in, so a test of what the database refuses in an append does not apply.
    fn appends_through_a_journal(&self) -> bool {
        false
    }

    /// Where the audit journal of `db` lives, or `None` if the engine has no audit journal
    /// (the journal chapter then says so and passes).
    fn journal_dir(&self, _db: &Self::Database) -> Option<PathBuf> {
        None
    }

    /// Opens a store on `db`, migrated, whose appended events go through the audit journal
    /// in `dir`, after taking in whatever the journal holds from before.
    async fn open_journaled(&self, _db: &Self::Database, _dir: &Path) -> Result<Self::Journaled> {
        bail!("this engine has no audit journal")
    }

    /// Closes a journaled store: everything the journal holds is taken in and the journal's
    /// lock released before it returns, as after [`Engine::close`].
    async fn close_journaled(&self, _store: Self::Journaled) -> Result<()> {
        bail!("this engine has no audit journal")
    }

    /// The database's position in its journal: the number of the last journal record it has
    /// taken in (0 before the first).
    async fn journal_position(&self, _db: &Self::Database) -> Result<i64> {
        bail!("this engine has no audit journal")
    }
}

/// An engine whose every store appends through the audit journal: runs the whole suite
/// with verifications journaled, the way a server runs. Its own journal chapter is skipped
/// (the inner engine's run covers it).
pub struct ThroughTheJournal<E>(pub E);

#[async_trait]
impl<E: Engine> Engine for ThroughTheJournal<E> {
    type Database = E::Database;
    type Store = E::Journaled;
    type Journaled = E::Journaled;

    async fn create(&self) -> Result<Self::Database> {
        self.0.create().await
    }

    async fn open(&self, db: &Self::Database) -> Result<Self::Store> {
        let Some(dir) = self.0.journal_dir(db) else {
            bail!("the engine has no audit journal to run the suite through")
        };
        self.0.open_journaled(db, &dir).await
    }

    async fn close(&self, store: Self::Store) -> Result<()> {
        self.0.close_journaled(store).await
    }

    fn appends_through_a_journal(&self) -> bool {
        true
    }
}
