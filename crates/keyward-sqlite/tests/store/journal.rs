//! The audit journal (`SqliteStore::with_audit_journal`) on real files: a temporary database
//! and a real journal directory. What a crash leaves between journal and database is built
//! deterministically by writing journal records directly with `keyward_journal`, the way the
//! store's writer thread does (one JSON `NewEvent` per record).

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::{AuditEvent, AuditFilter, EventKind, NewEvent, Store, Workspace};
use keyward_journal::{Journal, Options};
use keyward_sqlite::{JournalOptions, SqliteStore};
use keyward_storage::Journaled;
use sqlx::Connection;
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::lone_workspace;
use crate::story::{new_key, still_there, store_story, verify_chain};

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

/// The database's position in the journal (`audit_journal.lsn`), read on its own connection.
async fn position(db: &Path) -> Result<i64> {
    let mut conn = sqlx::SqliteConnection::connect(&url(db)).await?;
    let (lsn,): (i64,) = sqlx::query_as("SELECT lsn FROM audit_journal WHERE id = 1")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(lsn)
}

/// A time with the millisecond precision events are stored with.
fn start() -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(1_767_225_600_123).context("a valid time")
}

/// Verification `n` of a key in `ws`: every field set, so a round trip through the journal
/// that lost or mixed up one would show.
fn verification(ws: &Workspace, t0: DateTime<Utc>, n: i64) -> NewEvent {
    let mut event = NewEvent::new(
        &ws.id,
        t0 + Duration::milliseconds(n),
        EventKind::KeyVerified,
    )
    .actor("root_journal", "bootstrap")
    .subject(&format!("key_{n:04}"), &format!("Key {n}"));
    event.action = Some("invoices.read".into());
    event.resource = Some(format!("INV-{n}"));
    event.outcome = if n % 3 == 0 { "REVOKED" } else { "VALID" }.into();
    event.ip = Some("203.0.113.7".into());
    event.origin = Some("https://app.example".into());
    event.user_agent = Some("journal-test/1.0".into());
    event
}

fn verifications(ws: &Workspace, t0: DateTime<Utc>, ns: std::ops::Range<i64>) -> Vec<NewEvent> {
    ns.map(|n| verification(ws, t0, n)).collect()
}

fn payloads(events: &[NewEvent]) -> Result<Vec<Vec<u8>>> {
    Ok(events
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?)
}

/// Every event of the workspace, oldest first.
async fn ascending(store: &dyn Store, workspace_id: &str) -> Result<Vec<AuditEvent>> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &AuditEvent| e.seq);
        let page = store.events_ascending(workspace_id, after, 1000).await?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

/// Asserts that the workspace holds `workspace.created` and then exactly `expected`, in that
/// order, at seq 2, 3, …, and that its chain verifies.
async fn assert_trail(store: &dyn Store, ws: &Workspace, expected: &[NewEvent]) -> Result<()> {
    let found = ascending(store, &ws.id).await?;
    let kinds: Vec<&str> = found.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"workspace.created"), "{kinds:?}");
    let verified: Vec<&NewEvent> = found[1..].iter().map(|e| &e.event).collect();
    assert_eq!(
        verified,
        expected.iter().collect::<Vec<_>>(),
        "each journaled event exactly once, in journal order"
    );
    let seqs: Vec<i64> = found.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=found.len() as i64).collect::<Vec<_>>());
    let report = verify_chain(store, &ws.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events as usize, expected.len() + 1);
    Ok(())
}

/// Opens the journaled store once more, appends verification `n`, and checks that the
/// workspace holds `before` and then it, that the database's journal position is `n` (the
/// new record's LSN), and that the store closes cleanly.
async fn append_one_more(
    f: &Files,
    ws: &Workspace,
    t0: DateTime<Utc>,
    before: Vec<NewEvent>,
    n: i64,
) -> Result<()> {
    let store = journaled(&f.db, &f.journal).await?;
    let next = verification(ws, t0, n);
    store.append_events(vec![next.clone()]).await?;
    let all: Vec<NewEvent> = before.into_iter().chain([next]).collect();
    assert_trail(&store, ws, &all).await?;
    assert_eq!(position(&f.db).await?, n);
    close(store, &f.journal).await
}

/// A server killed after making verifications durable in the journal, before the database
/// took them in: the next open takes them in, in journal order and chained, before anything
/// else, and advances the database's position in the same transaction, so opening again (the
/// records are still in the journal) takes in none of them twice. A crash after the database
/// took in part of the journal takes in only the rest.
#[tokio::test]
async fn events_a_crash_left_in_the_journal_are_taken_in_exactly_once() -> Result<()> {
    let f = files()?;
    let t0 = start()?;
    let store = migrated(&f.db).await?;
    let ws = lone_workspace(&store, "Crashed", "crs", t0).await?;
    store.close().await;
    drop(store);

    // Seven verifications in two group commits, and nothing in the database yet.
    let events = verifications(&ws, t0, 1..8);
    let (mut journal, pending) = Journal::open(&f.journal, Options::default(), 0)?;
    assert!(pending.is_empty());
    assert_eq!(journal.append(&payloads(&events[..4])?)?, 1..5);
    assert_eq!(journal.append(&payloads(&events[4..])?)?, 5..8);
    drop(journal);
    assert_eq!(position(&f.db).await?, 0);

    let store = journaled(&f.db, &f.journal).await?;
    assert_eq!(
        position(&f.db).await?,
        7,
        "taken in while opening, before serving"
    );
    assert_trail(&store, &ws, &events).await?;
    close(store, &f.journal).await?;

    // Opened again: the journal still holds records 1-7 (taken in, not yet written over).
    let store = journaled(&f.db, &f.journal).await?;
    assert_eq!(position(&f.db).await?, 7);
    assert_trail(&store, &ws, &events).await?;
    close(store, &f.journal).await?;

    // Killed again after three more verifications were journaled: records 1-7 are in the
    // database and still in the journal, 8-10 only in the journal.
    let more = verifications(&ws, t0, 8..11);
    let (mut journal, pending) = Journal::open(&f.journal, Options::default(), 0)?;
    assert_eq!(
        pending.len(),
        7,
        "the records already taken in are still there"
    );
    assert_eq!(journal.append(&payloads(&more)?)?, 8..11);
    drop(journal);

    let all: Vec<NewEvent> = events.into_iter().chain(more).collect();
    for _ in 0..2 {
        let store = journaled(&f.db, &f.journal).await?;
        assert_eq!(position(&f.db).await?, 10);
        assert_trail(&store, &ws, &all).await?;
        close(store, &f.journal).await?;
    }

    // And the journal goes on from there: the next append is record 11.
    append_one_more(&f, &ws, t0, all, 11).await
}

/// Appended events are read back at once (reads settle the journal first), and a management
/// event written right after verifications is chained after every one of them.
#[tokio::test]
async fn appends_are_read_at_once_and_precede_the_next_management_event() -> Result<()> {
    let f = files()?;
    let t0 = start()?;
    // Appends go through the journal's group commit (the store is `Journaled`).
    let store: Journaled<SqliteStore> = journaled(&f.db, &f.journal).await?;
    let ws = lone_workspace(&store, "Journaled", "jnl", t0).await?;

    // Twenty verifications in four appends, then at once (no read, no settle between) a key
    // is created: its event must follow all twenty.
    let events = verifications(&ws, t0, 1..21);
    for chunk in events.chunks(5) {
        store.append_events(chunk.to_vec()).await?;
    }
    let key = new_key(
        &ws,
        "Created After Verifications",
        None,
        t0 + Duration::seconds(1),
    )?;
    let created =
        NewEvent::new(&ws.id, key.created_at, EventKind::KeyCreated).subject(&key.id, &key.name);
    store.insert_key(&key, created.clone()).await?;

    let found = ascending(&store, &ws.id).await?;
    let last = found.last().context("events")?;
    assert_eq!(last.event, created, "the key.created event is the head");
    assert_eq!(last.seq, 22);
    let highest_verification = found
        .iter()
        .filter(|e| e.event.kind == "key.verified")
        .map(|e| e.seq)
        .max();
    assert_eq!(highest_verification, Some(21));
    let expected: Vec<NewEvent> = events.iter().cloned().chain([created]).collect();
    assert_trail(&store, &ws, &expected).await?;

    // Each kind of read sees an append made just before it.
    let next = verifications(&ws, t0, 21..26);
    store.append_events(next.clone()).await?;
    let head = store.chain_head(&ws.id).await?.context("a head")?;
    assert_eq!(head.seq, 27, "chain_head");
    let latest = verification(&ws, t0, 26);
    store.append_events(vec![latest.clone()]).await?;
    let newest = store
        .events(
            &ws.id,
            &AuditFilter {
                kind: Some(EventKind::KeyVerified),
                limit: 6,
                ..AuditFilter::default()
            },
        )
        .await?;
    let newest: Vec<&NewEvent> = newest.iter().map(|e| &e.event).collect();
    let expected: Vec<&NewEvent> = [&latest].into_iter().chain(next.iter().rev()).collect();
    assert_eq!(newest, expected, "events, newest first");
    store.append_events(vec![verification(&ws, t0, 27)]).await?;
    let page = store.events_ascending(&ws.id, 27, 10).await?;
    assert_eq!(page.len(), 2, "events_ascending: {page:?}");
    assert_eq!(verify_chain(&store, &ws.id).await?.events, 29);
    assert_eq!(
        position(&f.db).await?,
        27,
        "every verification went through the journal"
    );
    close(store, &f.journal).await
}

/// Many callers appending at once all succeed, each event is in the trail exactly once, each
/// caller's events in the order it appended them, and the chain is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_all_land_exactly_once() -> Result<()> {
    const TASKS: usize = 32;
    const EACH: usize = 50;
    let f = files()?;
    let t0 = start()?;
    let store = Arc::new(journaled(&f.db, &f.journal).await?);
    let ws = lone_workspace(store.as_ref(), "Busy", "bsy", t0).await?;

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        let ws = ws.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                let mut event = verification(&ws, t0, (task * EACH + n) as i64);
                event.resource = Some(format!("{task}/{n}"));
                store.append_events(vec![event]).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }

    let found = ascending(store.as_ref(), &ws.id).await?;
    assert_eq!(found.len(), 1 + TASKS * EACH);
    let ids: BTreeSet<&str> = found.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids.len(), found.len(), "no event twice");
    let mut next_of: HashMap<usize, usize> = HashMap::new();
    for event in &found[1..] {
        let resource = event.event.resource.as_deref().context("a resource")?;
        let (task, n) = resource.split_once('/').context("task/n")?;
        let next = next_of.entry(task.parse()?).or_default();
        assert_eq!(n.parse::<usize>()?, *next, "task {task}'s appends in order");
        *next += 1;
    }
    assert_eq!(next_of.len(), TASKS);
    assert!(next_of.values().all(|&n| n == EACH), "{next_of:?}");
    let report = verify_chain(store.as_ref(), &ws.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events as usize, found.len());
    assert_eq!(position(&f.db).await?, (TASKS * EACH) as i64);
    let store = Arc::into_inner(store).context("the last handle")?;
    close(store, &f.journal).await
}

/// A backlog of thousands of events in one group commit (taken in over many slices of one
/// transaction) and a trickle after it land in journal order, each exactly once, in one
/// whole chain.
#[tokio::test]
async fn a_large_backlog_and_a_trickle_keep_journal_order() -> Result<()> {
    let f = files()?;
    let t0 = start()?;
    let store = journaled(&f.db, &f.journal).await?;
    let ws = lone_workspace(&store, "Backlog", "blg", t0).await?;
    let backlog = verifications(&ws, t0, 0..5000);
    store.append_events(backlog.clone()).await?;
    let mut expected = backlog;
    for n in 5000..5040 {
        let event = verification(&ws, t0, n);
        store.append_events(vec![event.clone()]).await?;
        expected.push(event);
    }
    assert_trail(&store, &ws, &expected).await?;
    assert_eq!(position(&f.db).await?, 5040);
    close(store, &f.journal).await
}

/// A journal whose records do not start right after the database's position (another copy of
/// the database, or records lost) is refused, with the way out in the message, and nothing is
/// taken in; moved aside, the database starts a fresh journal.
#[tokio::test]
async fn a_journal_that_does_not_continue_the_database_is_refused() -> Result<()> {
    let f = files()?;
    let t0 = start()?;
    let store = migrated(&f.db).await?;
    let ws = lone_workspace(&store, "Gap", "gap", t0).await?;
    store.close().await;
    drop(store);

    // Records 6-8: the database (at 0) never saw 1-5.
    let (mut journal, _) = Journal::open(&f.journal, Options::default(), 5)?;
    assert_eq!(
        journal.append(&payloads(&verifications(&ws, t0, 6..9))?)?,
        6..9
    );
    drop(journal);

    let refused = journaled(&f.db, &f.journal).await;
    let message = format!("{:#}", refused.err().context("a gap must be refused")?);
    assert!(
        message.contains("does not continue")
            && message.to_lowercase().contains("move the directory aside"),
        "{message}"
    );
    assert!(message.contains("expected record 1, found 6"), "{message}");
    let store = migrated(&f.db).await?;
    assert_eq!(position(&f.db).await?, 0, "nothing taken in");
    assert_trail(&store, &ws, &[]).await?;
    store.close().await;
    drop(store);

    let aside = f.journal.with_extension("audit-journal.aside");
    std::fs::rename(&f.journal, &aside)?;
    append_one_more(&f, &ws, t0, Vec::new(), 1).await
}

/// One journal, one store: a second store opening the directory while the first holds it is
/// refused (as a second server would be), and the first keeps working; once the first is
/// gone the directory can be opened again.
#[tokio::test]
async fn a_journal_in_use_is_refused() -> Result<()> {
    let f = files()?;
    let t0 = start()?;
    let first = journaled(&f.db, &f.journal).await?;
    let ws = lone_workspace(&first, "Locked", "lck", t0).await?;

    let second = journaled(&f.db, &f.journal).await;
    let message = format!("{:#}", second.err().context("the journal is in use")?);
    assert!(message.contains("in use by another process"), "{message}");
    assert!(
        message.contains(&f.journal.display().to_string()),
        "names the directory: {message}"
    );

    let event = verification(&ws, t0, 1);
    first.append_events(vec![event.clone()]).await?;
    assert_trail(&first, &ws, std::slice::from_ref(&event)).await?;
    close(first, &f.journal).await?;

    let again = journaled(&f.db, &f.journal).await?;
    assert_trail(&again, &ws, &[event]).await?;
    close(again, &f.journal).await
}

/// The conformance story (see story.rs) told by a file store whose appends go through the
/// journal, then read back after reopening it.
#[tokio::test]
async fn a_journaled_file_store_tells_the_story_and_keeps_it_across_a_reopen() -> Result<()> {
    let f = files()?;
    let store = Arc::new(journaled(&f.db, &f.journal).await?);
    let written = store_story(store.clone()).await?;
    let store = Arc::into_inner(store).context("the story let go of the store")?;
    close(store, &f.journal).await?;

    let reopened = journaled(&f.db, &f.journal).await?;
    let reopened = Arc::new(reopened);
    still_there(reopened.clone(), &written).await?;

    // The story appends only verifications: each went through the journal, once.
    let mut conn = sqlx::SqliteConnection::connect(&url(&f.db)).await?;
    let (verified,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events \
             WHERE kind = (SELECT id FROM audit_names WHERE value = 'key.verified')",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    assert!(verified > 0);
    assert_eq!(position(&f.db).await?, verified);
    let reopened = Arc::into_inner(reopened).context("the last handle")?;
    close(reopened, &f.journal).await
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
