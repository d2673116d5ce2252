//! Chapter 4, journal crash recovery, for engines whose store the audit journal can feed
//! ([`JournalEngine`]): the suite opens [`keyward_storage::Journaled`] over the engine's store,
//! with the journal in the directory the engine names. Appended events are taken into the
//! database in journal order, each exactly once, whatever a crash left between the two; a
//! journal that does not continue the database, or that another store holds, is refused.
//! Credit spends journaled with their events leave their balance in the database exactly
//! once, and a write that sets credits is never undone by spends journaled before it.
//!
//! A crash is built deterministically: journal records are written directly with
//! `keyward_journal`, the way the journal's writer does (one `keyward_storage::Entry` per
//! record: an event, or a spend's balance and its event),
//! while no store is open. The database's position in the journal is read through the
//! engine's [`IngestTarget`].

use crate::engine::{close_journaled, open_journaled};
use crate::fixtures::{lone_workspace, new_key, start, verify_chain, Story};
use crate::restrictions;
use crate::JournalEngine;
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::{
    AuditEvent, AuditFilter, CreditOutcome, EventKind, KeyRecord, NewEvent, RecordedSpend, Store,
    Workspace,
};
use keyward_journal::{Journal, Options};
use keyward_storage::{Balance, Entry, IngestTarget, Journaled};
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A database of the engine and where its journal goes.
struct Files<E: JournalEngine> {
    db: E::Database,
    journal: PathBuf,
}

/// A new database and its journal directory.
async fn files<E: JournalEngine>(engine: &E) -> Result<Files<E>> {
    let db = engine.create().await?;
    let journal = engine.journal_dir(&db);
    Ok(Files { db, journal })
}

/// The database's position in its journal (the LSN of the last record taken in, 0 before
/// the first), read on a store of its own.
async fn position<E: JournalEngine>(engine: &E, f: &Files<E>) -> Result<u64> {
    let store = engine.open(&f.db).await?;
    let position = store.journal_position().await;
    engine.close(store).await?;
    Ok(position?.lsn)
}

/// The engine's store with its appends through the journal in `f`.
async fn journaled<E: JournalEngine>(engine: &E, f: &Files<E>) -> Result<Journaled<E::Store>> {
    open_journaled(engine, &f.db, &f.journal).await
}

/// Closes a journaled store and checks that it let go of the journal's lock, so the
/// directory can be opened again at once.
async fn close<S: Store + IngestTarget>(store: Journaled<S>, dir: &Path) -> Result<()> {
    close_journaled(store).await?;
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

/// Verification `n` of a key in `ws`: every field set, so a round trip through the journal
/// that lost or mixed up one would show.
pub fn verification(ws: &Workspace, t0: DateTime<Utc>, n: i64) -> NewEvent {
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

pub fn verifications(ws: &Workspace, t0: DateTime<Utc>, ns: std::ops::Range<i64>) -> Vec<NewEvent> {
    ns.map(|n| verification(ws, t0, n)).collect()
}

pub fn payloads(events: &[NewEvent]) -> Result<Vec<Vec<u8>>> {
    Ok(events
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?)
}

/// Asserts that the workspace holds `workspace.created` and then exactly `expected`, in that
/// order, at seq 2, 3, …, and that its chain verifies.
pub async fn assert_trail(store: &dyn Store, ws: &Workspace, expected: &[NewEvent]) -> Result<()> {
    let found = crate::fixtures::ascending(store, &ws.id).await?;
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
async fn append_one_more<E: JournalEngine>(
    engine: &E,
    f: &Files<E>,
    ws: &Workspace,
    t0: DateTime<Utc>,
    before: Vec<NewEvent>,
    n: i64,
) -> Result<()> {
    let store = journaled(engine, f).await?;
    let next = verification(ws, t0, n);
    store.append_events(vec![next.clone()]).await?;
    let all: Vec<NewEvent> = before.into_iter().chain([next]).collect();
    assert_trail(&store, ws, &all).await?;
    assert_eq!(position(engine, f).await?, u64::try_from(n)?);
    close(store, &f.journal).await
}

/// A workspace created in the database without a journal, the store then closed.
async fn workspace_alone<E: JournalEngine>(
    engine: &E,
    f: &Files<E>,
    name: &str,
) -> Result<Workspace> {
    let store = engine.open(&f.db).await?;
    let prefix: String = name.to_lowercase().chars().take(3).collect();
    let ws = lone_workspace(&store, name, &prefix, start()?).await?;
    engine.close(store).await?;
    Ok(ws)
}

/// A server killed after making verifications durable in the journal, before the database
/// took them in: the next open takes them in, in journal order and chained, before anything
/// else, and advances the database's position in the same transaction, so opening again (the
/// records are still in the journal) takes in none of them twice. A crash after the database
/// took in part of the journal takes in only the rest.
pub async fn events_a_crash_left_in_the_journal_are_taken_in_exactly_once<E: JournalEngine>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let t0 = start()?;
    let ws = workspace_alone(engine, &f, "Crashed").await?;

    // Seven verifications in two group commits, and nothing in the database yet.
    let events = verifications(&ws, t0, 1..8);
    let (mut journal, pending) = Journal::open(&f.journal, Options::default(), 0)?;
    assert!(pending.is_empty());
    assert_eq!(journal.append(&payloads(&events[..4])?)?, 1..5);
    assert_eq!(journal.append(&payloads(&events[4..])?)?, 5..8);
    drop(journal);
    assert_eq!(position(engine, &f).await?, 0);

    let store = journaled(engine, &f).await?;
    assert_eq!(
        position(engine, &f).await?,
        7,
        "taken in while opening, before serving"
    );
    assert_trail(&store, &ws, &events).await?;
    close(store, &f.journal).await?;

    // Opened again: the journal still holds records 1-7 (taken in, not yet written over).
    let store = journaled(engine, &f).await?;
    assert_eq!(position(engine, &f).await?, 7);
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
        let store = journaled(engine, &f).await?;
        assert_eq!(position(engine, &f).await?, 10);
        assert_trail(&store, &ws, &all).await?;
        close(store, &f.journal).await?;
    }

    // And the journal goes on from there: the next append is record 11.
    append_one_more(engine, &f, &ws, t0, all, 11).await
}

/// Appended events are read back at once (reads settle the journal first), and a management
/// event written right after verifications is chained after every one of them.
pub async fn appends_are_read_at_once_and_precede_the_next_management_event<E: JournalEngine>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let t0 = start()?;
    let store = journaled(engine, &f).await?;
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

    let found = crate::fixtures::ascending(&store, &ws.id).await?;
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
        position(engine, &f).await?,
        27,
        "every verification went through the journal"
    );
    close(store, &f.journal).await
}

/// Many callers appending at once all succeed, each event is in the trail exactly once, each
/// caller's events in the order it appended them, and the chain is whole.
pub async fn concurrent_appends_all_land_exactly_once<E: JournalEngine>(engine: &E) -> Result<()> {
    const TASKS: usize = 32;
    const EACH: usize = 50;
    let f = files(engine).await?;
    let t0 = start()?;
    let store = Arc::new(journaled(engine, &f).await?);
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

    let found = crate::fixtures::ascending(store.as_ref(), &ws.id).await?;
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
    assert_eq!(position(engine, &f).await?, (TASKS * EACH) as u64);
    let store = Arc::into_inner(store).context("the last handle")?;
    close(store, &f.journal).await
}

/// A backlog of thousands of events in one group commit and a trickle after it land in
/// journal order, each exactly once, in one whole chain.
pub async fn a_large_backlog_and_a_trickle_keep_journal_order<E: JournalEngine>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let t0 = start()?;
    let store = journaled(engine, &f).await?;
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
    assert_eq!(position(engine, &f).await?, 5040);
    close(store, &f.journal).await
}

/// A journal whose records do not start right after the database's position (another copy of
/// the database, or records lost) is refused, with the way out in the message, and nothing is
/// taken in; moved aside, the database starts a fresh journal.
pub async fn a_journal_that_does_not_continue_the_database_is_refused<E: JournalEngine>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let t0 = start()?;
    let ws = workspace_alone(engine, &f, "Gap").await?;

    // Records 6-8: the database (at 0) never saw 1-5.
    let (mut journal, _) = Journal::open(&f.journal, Options::default(), 5)?;
    assert_eq!(
        journal.append(&payloads(&verifications(&ws, t0, 6..9))?)?,
        6..9
    );
    drop(journal);

    let refused = journaled(engine, &f).await;
    let message = format!("{:#}", refused.err().context("a gap must be refused")?);
    assert!(
        message.contains("does not continue")
            && message.to_lowercase().contains("move the directory aside"),
        "{message}"
    );
    assert!(message.contains("expected record 1, found 6"), "{message}");
    let store = engine.open(&f.db).await?;
    assert_eq!(position(engine, &f).await?, 0, "nothing taken in");
    assert_trail(&store, &ws, &[]).await?;
    engine.close(store).await?;

    let aside = f.journal.with_extension("audit-journal.aside");
    std::fs::rename(&f.journal, &aside)?;
    append_one_more(engine, &f, &ws, t0, Vec::new(), 1).await
}

/// One journal, one store: a second store opening the directory while the first holds it is
/// refused (as a second server would be), and the first keeps working; once the first is
/// gone the directory can be opened again.
pub async fn a_journal_in_use_is_refused<E: JournalEngine>(engine: &E) -> Result<()> {
    let f = files(engine).await?;
    let t0 = start()?;
    let first = journaled(engine, &f).await?;
    let ws = lone_workspace(&first, "Locked", "lck", t0).await?;

    let second = journaled(engine, &f).await;
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

    let again = journaled(engine, &f).await?;
    assert_trail(&again, &ws, &[event]).await?;
    close(again, &f.journal).await
}

/// Keys, root keys, management events and verifications of two workspaces written through
/// the journal are all there after a reopen, the chains whole, and every verification went
/// through the journal exactly once.
pub async fn a_journaled_store_keeps_everything_across_a_reopen<E: JournalEngine>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let store = Arc::new(journaled(engine, &f).await?);
    let mut story = Story::new(store.clone())?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let (globex, globex_root) = story.create_workspace("globex").await?;
    story.keys_in_every_status(&acme).await?;
    let mut verified = 0;
    for round in 0..3 {
        let mut batch = Vec::new();
        for ws in [&acme, &globex, &acme] {
            batch.push(story.event(ws, EventKind::KeyVerified));
        }
        verified += batch.len() as i64;
        store.append_events(batch).await?;
        story
            .add_key(&globex, &format!("Worker {round}"), None)
            .await?;
    }
    let heads = [
        (acme.id.clone(), store.chain_head(&acme.id).await?),
        (globex.id.clone(), store.chain_head(&globex.id).await?),
    ];
    let keys = std::mem::take(&mut story.keys);
    drop(story);
    let store = Arc::into_inner(store).context("the test let go of the store")?;
    close(store, &f.journal).await?;

    let reopened = journaled(engine, &f).await?;
    let workspaces = reopened.workspaces().await?;
    assert!(workspaces.contains(&acme) && workspaces.contains(&globex));
    let root_keys = reopened.root_keys().await?;
    assert!(root_keys.contains(&acme_root) && root_keys.contains(&globex_root));
    let found: Vec<_> = reopened.all_keys().await?;
    assert_eq!(found, keys.into_values().collect::<Vec<_>>());
    let mut verifications_stored = 0;
    for (workspace_id, head) in &heads {
        assert_eq!(&reopened.chain_head(workspace_id).await?, head);
        let report = verify_chain(&reopened, workspace_id).await?;
        assert!(report.valid, "{report:?}");
        let events: Vec<AuditEvent> = crate::fixtures::ascending(&reopened, workspace_id).await?;
        verifications_stored += events
            .iter()
            .filter(|e| e.event.kind == EventKind::KeyVerified.as_str())
            .count() as i64;
    }
    assert_eq!(verifications_stored, verified);
    assert_eq!(
        position(engine, &f).await?,
        u64::try_from(verified)?,
        "each verification went through the journal, once"
    );
    close(reopened, &f.journal).await
}

/// A workspace with one key holding `credits`, written without a journal, the store then
/// closed.
async fn metered_alone<E: JournalEngine>(
    engine: &E,
    f: &Files<E>,
    credits: u64,
) -> Result<(Workspace, KeyRecord)> {
    let store = engine.open(&f.db).await?;
    let ws = lone_workspace(&store, "Metered", "met", start()?).await?;
    let key = restrictions::key(&ws, restrictions::with_credits(credits)?);
    store.insert_key(&key, restrictions::event(&key)).await?;
    engine.close(store).await?;
    Ok((ws, key))
}

/// The verifications of `ws` in its chain, oldest first.
async fn verified_events(store: &dyn Store, ws: &Workspace) -> Result<Vec<NewEvent>> {
    Ok(crate::fixtures::ascending(store, &ws.id)
        .await?
        .into_iter()
        .filter(|e| e.event.kind == EventKind::KeyVerified.as_str())
        .map(|e| e.event)
        .collect())
}

/// A server killed after journaling credit spends (each record the balance a spend left and
/// its verification), before the database took them in: the next open writes the last
/// balance and takes the events in, once; opening again, or taking the same records in once
/// more (a retry whose commit's answer was lost), changes nothing; and spending goes on from
/// the balance the journal left.
pub async fn spends_a_crash_left_in_the_journal_are_taken_in_exactly_once<E: JournalEngine>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let t0 = start()?;
    let (ws, key) = metered_alone(engine, &f, 10).await?;
    let spent = |remaining: u64, event: Option<NewEvent>| Entry::Spent {
        balance: Balance {
            workspace_id: ws.id.clone(),
            key_id: key.id.clone(),
            remaining,
            refilled_at: restrictions::t0(),
        },
        event,
    };
    let records = vec![
        spent(9, Some(verification(&ws, t0, 1))),
        spent(8, Some(verification(&ws, t0, 2))),
        Entry::Event(verification(&ws, t0, 3)),
        spent(7, None),
    ];
    let expected: Vec<NewEvent> = records.iter().filter_map(Entry::event).cloned().collect();
    let encoded = records
        .iter()
        .map(Entry::encode)
        .collect::<Result<Vec<_>, _>>()?;
    let (mut journal, _) = Journal::open(&f.journal, Options::default(), 0)?;
    assert_eq!(journal.append(&encoded)?, 1..5);
    drop(journal);

    for _ in 0..2 {
        let store = journaled(engine, &f).await?;
        assert_eq!(position(engine, &f).await?, 4);
        assert_eq!(
            restrictions::remaining(&store, &ws.id, &key.id).await?,
            Some(7)
        );
        assert_eq!(verified_events(&store, &ws).await?, expected);
        close(store, &f.journal).await?;
    }

    let store = engine.open(&f.db).await?;
    let entries: Vec<(u64, Entry)> = (1..).zip(records).collect();
    store.take_in(&entries).await?;
    store.take_in(&entries[2..]).await?;
    assert_eq!(
        restrictions::remaining(&store, &ws.id, &key.id).await?,
        Some(7)
    );
    assert_eq!(verified_events(&store, &ws).await?, expected);
    engine.close(store).await?;

    let store = journaled(engine, &f).await?;
    let next = verification(&ws, t0, 5);
    let spend = RecordedSpend {
        workspace_id: ws.id.clone(),
        key_id: key.id.clone(),
        cost: 1,
        now: restrictions::t0(),
        event: next.clone(),
    };
    assert_eq!(
        store.spend_and_record(spend).await?,
        Some(CreditOutcome::Spent { remaining: 6 })
    );
    close(store, &f.journal).await?;
    let store = engine.open(&f.db).await?;
    assert_eq!(
        restrictions::remaining(&store, &ws.id, &key.id).await?,
        Some(6)
    );
    let all: Vec<NewEvent> = expected.into_iter().chain([next]).collect();
    assert_eq!(verified_events(&store, &ws).await?, all);
    let report = verify_chain(&store, &ws.id).await?;
    assert!(report.valid, "{report:?}");
    engine.close(store).await
}

/// Spends decided by the journal's ledger, then a write that sets the key's credits: the
/// write's balance stands (the spends before it were taken in first, so none is written over
/// it later), and the next spend draws from it, not from the ledger's older balance.
pub async fn a_write_that_sets_credits_is_not_undone_by_spends_journaled_before_it<
    E: JournalEngine,
>(
    engine: &E,
) -> Result<()> {
    let f = files(engine).await?;
    let (ws, key) = metered_alone(engine, &f, 10).await?;
    let store = journaled(engine, &f).await?;
    for _ in 0..3 {
        store
            .spend_credits(&ws.id, &key.id, 1, restrictions::t0())
            .await?;
    }
    let mut topped_up = key.clone();
    topped_up.restrictions = restrictions::with_credits(100)?;
    let updated = NewEvent::new(&ws.id, restrictions::t0(), EventKind::KeyUpdated)
        .subject(&key.id, &key.name);
    store.update_key_and_credits(&topped_up, updated).await?;
    assert_eq!(
        store
            .spend_credits(&ws.id, &key.id, 1, restrictions::t0())
            .await?,
        Some(CreditOutcome::Spent { remaining: 99 })
    );
    close(store, &f.journal).await?;
    let store = engine.open(&f.db).await?;
    assert_eq!(
        restrictions::remaining(&store, &ws.id, &key.id).await?,
        Some(99)
    );
    engine.close(store).await
}
