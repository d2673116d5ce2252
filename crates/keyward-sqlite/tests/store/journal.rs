//! The audit journal on SQLite when the database fails or is swapped under it: readiness
//! and backpressure while the database cannot take events in (broken by renaming a table
//! from another connection), and a database bound to its journal after a crash. The
//! engine-neutral journal behaviour (crash recovery, ordering, refusals) is
//! `keyward-store-tests`' journal chapter.

use anyhow::{bail, Context, Result};
use keyward_core::Store;
use keyward_journal::{Journal, Options};
use keyward_sqlite::{JournalOptions, SqliteStore};
use keyward_storage::Journaled;
use keyward_store_tests::fixtures::{ascending, lone_workspace, start};
use keyward_store_tests::journal::{assert_trail, payloads, verifications};
use sqlx::Connection;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::position;

/// A temporary database file and where its journal goes by default.
struct Files {
    _dir: tempfile::TempDir,
    db: PathBuf,
    journal: PathBuf,
}

fn files() -> Result<Files> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("keyward.db");
    let journal = SqliteStore::default_journal_dir(&db);
    Ok(Files {
        _dir: dir,
        db,
        journal,
    })
}

fn url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// The database, migrated, without a journal.
async fn migrated(db: &Path) -> Result<SqliteStore> {
    let store = SqliteStore::connect(&url(db)).await?;
    store.migrate().await?;
    Ok(store)
}

/// The database with its audit journal in `dir`, as `keyward serve` opens it.
async fn journaled(db: &Path, dir: &Path) -> Result<Journaled<SqliteStore>> {
    Ok(migrated(db)
        .await?
        .with_audit_journal(dir, JournalOptions::default())
        .await?)
}

/// Closes a store: `close` stops the journal's writer, which releases the journal's lock
/// before `close` returns, so the directory can be opened again at once.
async fn close(store: Journaled<SqliteStore>, dir: &Path) -> Result<()> {
    store.close().await;
    drop(store);
    let lock = File::options().write(true).open(dir.join("LOCK"))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock.unlock()?),
        Err(TryLockError::WouldBlock) => {
            bail!(
                "the journal at {} is still locked after close",
                dir.display()
            )
        }
        Err(TryLockError::Error(e)) => Err(e.into()),
    }
}

/// A database remembers the journal it is using until a clean close has taken everything in:
/// after a crash it refuses another journal (which would silently lose the verifications only
/// the first one holds), takes the right one back, and once closed cleanly lets a new journal
/// continue the numbering.
#[tokio::test]
async fn a_database_refuses_another_journal_until_its_own_is_closed_cleanly() -> Result<()> {
    let f = files()?;
    let ws = lone_workspace(&migrated(&f.db).await?, "Bound", "bnd", start()?).await?;
    let other = f.journal.with_extension("other");

    // A crash with events only in the first journal: records written directly, the database
    // attached to that journal but not yet past them.
    let first = verifications(&ws, start()?, 0..3);
    {
        let store = journaled(&f.db, &f.journal).await?;
        close(store, &f.journal).await?;
    }
    {
        let (mut journal, _) = Journal::open(&f.journal, Options::default(), 0)?;
        journal.append(&payloads(&first)?)?;
    }
    sqlx::query("UPDATE audit_journal SET journal_id = ? WHERE id = 1")
        .bind(std::fs::read_to_string(f.journal.join("ID"))?.trim())
        .execute(&mut sqlx::SqliteConnection::connect(&url(&f.db)).await?)
        .await?;

    let refused = journaled(&f.db, &other)
        .await
        .err()
        .context("another journal must be refused while the database's own holds events")?;
    let message = format!("{refused:#}");
    assert!(message.contains("--audit-journal"), "{message}");
    assert_eq!(position(&f.db).await?, 0, "nothing taken in from either");

    let store = journaled(&f.db, &f.journal).await?;
    assert_trail(&store, &ws, &first).await?;
    close(store, &f.journal).await?;

    // After a clean close the database stands alone: a new journal continues at LSN 4.
    let store = journaled(&f.db, &other).await?;
    let more = verifications(&ws, start()?, 3..5);
    store.append_events(more.clone()).await?;
    close(store, &other).await?;
    assert_eq!(position(&f.db).await?, 5);
    let store = migrated(&f.db).await?;
    assert_trail(&store, &ws, &[first, more].concat()).await?;
    Ok(())
}

/// When the database stops taking events in, readiness (`ping`) says so while the events wait
/// in the journal, and it recovers by itself once the database works again.
#[tokio::test]
async fn readiness_fails_while_the_database_cannot_take_events_in() -> Result<()> {
    let f = files()?;
    let ws = lone_workspace(&migrated(&f.db).await?, "Stalled", "stl", start()?).await?;
    let store = journaled(&f.db, &f.journal).await?;
    store.ping().await?;
    // Break ingestion from another connection: the chain heads table is gone.
    let mut other = sqlx::SqliteConnection::connect(&url(&f.db)).await?;
    sqlx::query("ALTER TABLE audit_heads RENAME TO audit_heads_away")
        .execute(&mut other)
        .await?;
    let stalled = verifications(&ws, start()?, 0..3);
    store.append_events(stalled.clone()).await?;
    // A safety net, not a threshold: the ingester notices within one linger.
    let mut unready = false;
    for _ in 0..200 {
        if store.ping().await.is_err() {
            unready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(unready, "ping must fail while ingestion fails");
    sqlx::query("ALTER TABLE audit_heads_away RENAME TO audit_heads")
        .execute(&mut other)
        .await?;
    other.close().await?;
    store.settle().await?;
    store.ping().await?;
    assert_trail(&store, &ws, &stalled).await?;
    close(store, &f.journal).await
}

/// Backpressure: while the database is more than 20,000 events behind the journal, the next
/// append waits for it to catch up (here: until ingestion is mended), so verification cannot
/// run ahead of the audit trail for longer than a burst. What holds the append is the lag,
/// not a slow append: with ingestion just as broken, an append at exactly 20,000 behind goes
/// through, while the next, at 20,001 behind, is still waiting a second later and finishes
/// only after the mend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_wait_while_the_database_is_far_behind() -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let f = files()?;
    let ws = lone_workspace(&migrated(&f.db).await?, "Behind", "bhd", start()?).await?;
    let store = journaled(&f.db, &f.journal).await?;
    let mut other = sqlx::SqliteConnection::connect(&url(&f.db)).await?;
    sqlx::query("ALTER TABLE audit_heads RENAME TO audit_heads_away")
        .execute(&mut other)
        .await?;
    let burst = verifications(&ws, start()?, 0..20_000);
    store.append_events(burst.clone()).await?;
    // At the limit, not past it: goes through with ingestion still broken.
    let at_limit = verifications(&ws, start()?, 20_000..20_001);
    store.append_events(at_limit).await?;

    let mended = Arc::new(AtomicBool::new(false));
    let next = verifications(&ws, start()?, 20_001..20_002);
    let waiting = {
        let (store, mended) = (store.clone(), mended.clone());
        tokio::spawn(async move {
            store.append_events(next).await?;
            anyhow::Ok(mended.load(Ordering::SeqCst))
        })
    };
    // A safety margin, not a threshold: the append is held for up to 5 s by design.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "the append went through while the database was 20,001 events behind"
    );
    mended.store(true, Ordering::SeqCst);
    sqlx::query("ALTER TABLE audit_heads_away RENAME TO audit_heads")
        .execute(&mut other)
        .await?;
    other.close().await?;
    assert!(
        waiting.await??,
        "the append finished before ingestion was mended"
    );
    store.settle().await?;
    assert_eq!(ascending(&store, &ws.id).await?.len(), 20_003);
    close(store, &f.journal).await
}
