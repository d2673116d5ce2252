//! Appended events (verifications) through the audit journal (`keyward-journal`).
//!
//! One writer thread owns the journal and is its group commit: it takes every append waiting
//! for it, writes them as one batch (one sequential write, one `fdatasync`), answers them
//! all, and hands the events to the ingester. The ingester, a background task, takes them
//! into `audit_events` in large transactions that also advance `audit_journal.lsn`, then
//! releases their journal space. Opening replays whatever a crash left between the two.
//!
//! Readers and writers of the chain first [settle](AuditJournal::settle): they wait until
//! every event appended so far has been taken in, so a query sees every verification
//! answered before it began, and a management event is chained after them.

use crate::audit;
use crate::error::store_error;
use crate::names::{Learned, Names};
use keyward_core::{NewEvent, StoreError};
use keyward_journal::{Journal, JournalError, Options, Record, Releaser};
use sqlx::{SqliteExecutor, SqlitePool};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// Most appends the writer thread commits together.
const MAX_GROUP: usize = 4096;
/// Group-commit batches taken in per transaction at most.
const BATCHES_PER_INGEST: usize = 1024;
/// How long the ingester gathers batches before a transaction, unless a reader or writer of
/// the chain is waiting: large transactions cost the database far less per event (each
/// B-tree page is written to the WAL once per transaction, not once per batch), and nothing
/// depends on taking events in sooner, since they are durable in the journal.
const INGEST_LINGER: Duration = Duration::from_millis(100);
/// Most events the database may be behind the journal before new groups wait for it.
const MAX_LAG: u64 = 20_000;
/// How long appends wait for journal space while the ingester is a whole journal behind
/// (or more than [`MAX_LAG`] events), and how often they look.
const FULL_WAIT: Duration = Duration::from_secs(5);
const FULL_POLL: Duration = Duration::from_millis(1);
/// Events chained and inserted between yields to the runtime.
const INGEST_CHUNK: usize = 256;
/// Events per transaction when replaying after a crash.
const REPLAY_CHUNK: usize = 8192;
/// How long a reader or writer of the chain waits for the journal to be taken in before
/// giving up (the database is failing: the ingester retries meanwhile).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry delays of a failing ingest.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// One caller's events, encoded, waiting for the writer thread.
struct Append {
    payloads: Vec<Vec<u8>>,
    events: Vec<NewEvent>,
    done: oneshot::Sender<Result<(), String>>,
}

/// What the writer thread is asked to do.
enum Message {
    Append(Append),
    /// Finish what came before, close the journal (releasing its lock) and stop.
    Stop(oneshot::Sender<()>),
}

/// Events made durable in the journal, with the LSNs they were given, on their way in.
struct Journaled {
    lsns: Range<u64>,
    events: Vec<NewEvent>,
}

pub(crate) struct AuditJournal {
    dir: PathBuf,
    /// The journal's identity, recorded in `audit_journal.journal_id` while it is in use.
    journal_id: String,
    writer: SqlitePool,
    appends: std_mpsc::Sender<Message>,
    /// The last LSN appended (durable in the journal).
    appended: Arc<AtomicU64>,
    /// The last LSN taken into the database.
    ingested: watch::Receiver<u64>,
    /// Cuts the ingester's linger short for someone waiting to settle.
    hurry: Arc<Notify>,
    /// Set when a failed write made the journal refuse appends until restart (readiness).
    poisoned: Arc<AtomicBool>,
    /// Set while the ingester's last attempt to take events in failed (readiness): the
    /// events are safe in the journal, but the audit trail is not advancing.
    ingest_failing: Arc<AtomicBool>,
}

impl std::fmt::Debug for AuditJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditJournal")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl AuditJournal {
    /// Opens the journal in `dir`, takes in what it holds beyond the database's position,
    /// and starts the writer thread and the ingester.
    pub(crate) async fn open(
        writer: SqlitePool,
        names: Arc<Names>,
        dir: &Path,
        options: Options,
    ) -> Result<Self, StoreError> {
        let (after, attached) = position(&writer).await?;
        let owned = dir.to_owned();
        let (journal, pending) =
            tokio::task::spawn_blocking(move || Journal::open(&owned, options, after))
                .await
                .map_err(|e| StoreError::Unavailable(format!("opening the audit journal: {e}")))?
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if let Some(other) = attached.filter(|other| other != journal.id()) {
            return Err(StoreError::Unavailable(format!(
                "the database's audit trail continues in another audit journal (id {other}), \
                 which was not closed cleanly: start keyward with --audit-journal pointing to \
                 it, so the verifications only it holds are taken in (the journal at {} has \
                 id {})",
                dir.display(),
                journal.id()
            )));
        }
        sqlx::query("UPDATE audit_journal SET journal_id = ? WHERE id = 1")
            .bind(journal.id())
            .execute(&writer)
            .await
            .map_err(store_error)?;
        let journal_id = journal.id().to_owned();
        let mut last = after;
        for chunk in pending.chunks(REPLAY_CHUNK) {
            take_in(&writer, &names, &decode(chunk)?).await?;
            last = chunk.last().map_or(last, |r| r.lsn);
        }
        if !pending.is_empty() {
            tracing::info!(
                events = pending.len(),
                "took in audit events the journal held from before the last stop"
            );
        }
        let releaser = journal.releaser();
        releaser.release(last);

        let appended = Arc::new(AtomicU64::new(last));
        let poisoned = Arc::new(AtomicBool::new(false));
        let ingest_failing = Arc::new(AtomicBool::new(false));
        let hurry = Arc::new(Notify::new());
        let (appends, appends_rx) = std_mpsc::channel();
        let (to_ingest, queue) = mpsc::unbounded_channel();
        let (ingested_tx, ingested) = watch::channel(last);
        let thread = WriterThread {
            journal,
            to_ingest,
            appended: appended.clone(),
            poisoned: poisoned.clone(),
            ingested: ingested.clone(),
            hurry: hurry.clone(),
        };
        // A thread, not a runtime task: the durable write blocks, and a task writing inline
        // held up the worker it ran on at every commit, so the cores sat idle more of the time
        // under load (measured with `scripts/bench-ab`).
        std::thread::Builder::new()
            .name("keyward-journal".into())
            .spawn(move || thread.run(appends_rx))
            .map_err(|e| StoreError::Unavailable(format!("starting the journal writer: {e}")))?;
        tokio::spawn(ingest(
            writer.clone(),
            names,
            releaser,
            queue,
            ingested_tx,
            hurry.clone(),
            ingest_failing.clone(),
        ));
        Ok(Self {
            dir: dir.to_owned(),
            journal_id,
            writer,
            appends,
            appended,
            ingested,
            hurry,
            poisoned,
            ingest_failing,
        })
    }

    /// Returns once `events` are durable in the journal (committed together with whatever
    /// other appends were waiting); the ingester takes them in afterwards.
    pub(crate) async fn append(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let payloads = events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Unavailable(format!("encoding an audit event: {e}")))?;
        let (done, committed) = oneshot::channel();
        self.appends
            .send(Message::Append(Append {
                payloads,
                events,
                done,
            }))
            .map_err(|_| StoreError::Unavailable("the audit journal writer has stopped".into()))?;
        match committed.await {
            Ok(result) => result.map_err(StoreError::Unavailable),
            Err(_) => Err(StoreError::Unavailable(
                "the audit journal writer stopped mid-batch".into(),
            )),
        }
    }

    /// Whether the journal still accepts appends (it refuses them after a failed write, until
    /// the server restarts and reads back what reached the disk) and the database is taking
    /// its events in.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(format!(
                "a write to the audit journal at {} failed; verifications are refused until \
                 the server restarts",
                self.dir.display()
            )));
        }
        if self.ingest_failing.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the database is not taking in audit events from the journal (see the log); \
                 they wait there"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Stops the writer thread (appends after this fail), which closes the journal and
    /// releases its lock, then waits until everything it wrote is in the database.
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        let (done, stopped) = oneshot::channel();
        if self.appends.send(Message::Stop(done)).is_ok() {
            // An error means the thread is already gone, which is what was asked.
            let _ = stopped.await;
        }
        self.settle().await?;
        // Everything is in the database: it no longer needs this journal, so another may
        // continue it (the database can be moved without the directory).
        sqlx::query("UPDATE audit_journal SET journal_id = NULL WHERE id = 1 AND journal_id = ?")
            .bind(&self.journal_id)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Waits until every event appended before this call is in the database.
    pub(crate) async fn settle(&self) -> Result<(), StoreError> {
        let target = self.appended.load(Ordering::Acquire);
        let mut ingested = self.ingested.clone();
        if *ingested.borrow() >= target {
            return Ok(());
        }
        self.hurry.notify_one();
        let waited = tokio::time::timeout(SETTLE_TIMEOUT, async {
            ingested.wait_for(|lsn| *lsn >= target).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(StoreError::Unavailable(
                "the audit ingester has stopped".into(),
            )),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the audit trail is more than {} s behind its journal",
                SETTLE_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// The writer thread's state: it owns the journal.
struct WriterThread {
    journal: Journal,
    to_ingest: mpsc::UnboundedSender<Journaled>,
    appended: Arc<AtomicU64>,
    poisoned: Arc<AtomicBool>,
    ingested: watch::Receiver<u64>,
    hurry: Arc<Notify>,
}

impl WriterThread {
    /// Group commit: blocks for the first waiting append, takes every other one already
    /// queued, writes them as one durable batch and answers them all. Ends when the store is
    /// dropped or closed.
    fn run(mut self, messages: std_mpsc::Receiver<Message>) {
        while let Ok(first) = messages.recv() {
            let mut group = Vec::new();
            let mut stop = None;
            for message in std::iter::once(first).chain(messages.try_iter().take(MAX_GROUP - 1)) {
                match message {
                    Message::Append(append) => group.push(append),
                    Message::Stop(done) => {
                        stop = Some(done);
                        break;
                    }
                }
            }
            if !group.is_empty() {
                self.wait_for_ingestion();
                self.commit_group(group);
                self.poisoned
                    .store(self.journal.is_poisoned(), Ordering::Release);
            }
            if let Some(done) = stop {
                drop(self);
                let _ = done.send(());
                return;
            }
        }
    }

    /// Backpressure: while the database is more than [`MAX_LAG`] events behind the journal,
    /// new groups wait (up to [`FULL_WAIT`]), so verification never runs ahead of what the
    /// audit trail can take in for longer than a short burst, and a settle never has more
    /// than that to wait for.
    fn wait_for_ingestion(&self) {
        let started = Instant::now();
        while self
            .appended
            .load(Ordering::Acquire)
            .saturating_sub(*self.ingested.borrow())
            > MAX_LAG
            && started.elapsed() < FULL_WAIT
        {
            self.hurry.notify_one();
            std::thread::sleep(FULL_POLL);
        }
    }

    /// Writes one group as one durable batch, hands its events to the ingester and answers
    /// every caller in it.
    fn commit_group(&mut self, group: Vec<Append>) {
        let payloads: Vec<&[u8]> = group
            .iter()
            .flat_map(|a| a.payloads.iter().map(Vec::as_slice))
            .collect();
        let started = Instant::now();
        let result = loop {
            match self.journal.append(&payloads) {
                // The ingester is behind by the whole journal: wait for it (backpressure),
                // then fail closed.
                Err(JournalError::Full(_)) if started.elapsed() < FULL_WAIT => {
                    std::thread::sleep(FULL_POLL);
                }
                other => break other.map_err(|e| e.to_string()),
            }
        };
        tracing::debug!(
            events = payloads.len(),
            micros = started.elapsed().as_micros() as u64,
            "journal group commit"
        );
        let (events, waiters): (Vec<_>, Vec<_>) =
            group.into_iter().map(|a| (a.events, a.done)).unzip();
        match &result {
            Ok(lsns) => {
                let events = events.into_iter().flatten().collect();
                let journaled = Journaled {
                    lsns: lsns.clone(),
                    events,
                };
                if self.to_ingest.send(journaled).is_err() {
                    // Durable in the journal all the same; the next start takes it in.
                    tracing::error!("the audit ingester has stopped");
                }
                // Only after the send: a settle that sees this LSN finds its batch queued.
                self.appended.store(lsns.end - 1, Ordering::Release);
            }
            Err(e) => {
                tracing::error!(error = %e, "writing the audit journal failed; the verifications are refused");
            }
        }
        for waiter in waiters {
            // A waiter that has gone (client disconnected) needs no answer.
            let _ = waiter.send(result.clone().map(|_| ()));
        }
    }
}

/// The database's position in the journal, and the journal in use (`None` after a clean
/// stop).
async fn position(db: impl SqliteExecutor<'_>) -> Result<(u64, Option<String>), StoreError> {
    let (lsn, journal_id): (i64, Option<String>) =
        sqlx::query_as("SELECT lsn, journal_id FROM audit_journal WHERE id = 1")
            .fetch_one(db)
            .await
            .map_err(store_error)?;
    let lsn = u64::try_from(lsn)
        .map_err(|_| StoreError::Corrupt("negative audit journal position".into()))?;
    Ok((lsn, journal_id))
}

fn decode(records: &[Record]) -> Result<Vec<(u64, NewEvent)>, StoreError> {
    records
        .iter()
        .map(|r| {
            serde_json::from_slice(&r.payload)
                .map(|event| (r.lsn, event))
                .map_err(|e| {
                    StoreError::Corrupt(format!(
                        "audit journal record {} is not an event: {e}",
                        r.lsn
                    ))
                })
        })
        .collect()
}

/// Appends the events the database has not taken in yet and advances its position, in one
/// transaction. Events at or before the stored position are skipped, so taking in the same
/// records twice (a retry after a commit whose answer was lost) changes nothing.
async fn take_in(
    writer: &SqlitePool,
    names: &Names,
    events: &[(u64, NewEvent)],
) -> Result<(), StoreError> {
    let Some(through) = events.last().map(|(lsn, _)| *lsn) else {
        return Ok(());
    };
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)?;
    let (done, _) = position(&mut *tx).await?;
    if through <= done {
        return Ok(());
    }
    let fresh = &events[events.partition_point(|(lsn, _)| *lsn <= done)..];
    if fresh.first().is_some_and(|(lsn, _)| *lsn != done + 1) {
        return Err(StoreError::Corrupt(format!(
            "audit journal records do not continue the database's position {done}"
        )));
    }
    // In slices, yielding between them: chaining and encoding thousands of events in one
    // poll would hold a runtime worker (and the requests queued on it) for milliseconds.
    let mut learned = Learned::default();
    for chunk in fresh.chunks(INGEST_CHUNK) {
        // Collected rather than mapped lazily: a closure type inside this future would keep
        // it from being `Send` for every lifetime (a rustc limitation with `tokio::spawn`).
        let events: Vec<&NewEvent> = chunk.iter().map(|(_, event)| event).collect();
        learned.extend(audit::append(&mut tx, names, events).await?);
        tokio::task::yield_now().await;
    }
    sqlx::query("UPDATE audit_journal SET lsn = ? WHERE id = 1")
        .bind(i64::try_from(through).map_err(|_| StoreError::Corrupt("LSN overflow".into()))?)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    names.learn(learned);
    Ok(())
}

/// The background ingester: takes journaled batches into the database, many per
/// transaction (gathered for up to [`INGEST_LINGER`], or until someone is waiting to
/// settle), retrying with backoff while the database fails (the events are safe in the
/// journal meanwhile), then releases their journal space. Ends when the writer thread does.
async fn ingest(
    writer: SqlitePool,
    names: Arc<Names>,
    releaser: Releaser,
    mut queue: mpsc::UnboundedReceiver<Journaled>,
    ingested: watch::Sender<u64>,
    hurry: Arc<Notify>,
    failing: Arc<AtomicBool>,
) {
    let mut batches = Vec::with_capacity(BATCHES_PER_INGEST);
    while queue.recv_many(&mut batches, BATCHES_PER_INGEST).await > 0 {
        // Linger to gather a larger transaction, unless there is already a full one.
        if batches.len() < BATCHES_PER_INGEST {
            tokio::select! {
                () = tokio::time::sleep(INGEST_LINGER) => {}
                () = hurry.notified() => {}
            }
        }
        while batches.len() < BATCHES_PER_INGEST {
            match queue.try_recv() {
                Ok(batch) => batches.push(batch),
                Err(_) => break,
            }
        }
        let events: Vec<(u64, NewEvent)> = batches
            .drain(..)
            .flat_map(|b| b.lsns.zip(b.events))
            .collect();
        let Some(through) = events.last().map(|(lsn, _)| *lsn) else {
            continue;
        };
        let (count, started) = (events.len(), Instant::now());
        let mut delay = RETRY_FIRST;
        while let Err(e) = take_in(&writer, &names, &events).await {
            failing.store(true, Ordering::Release);
            tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64,
                "taking audit events in from the journal failed");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
        failing.store(false, Ordering::Release);
        tracing::debug!(
            events = count,
            micros = started.elapsed().as_micros() as u64,
            "ingest"
        );
        releaser.release(through);
        ingested.send_replace(through);
    }
}
