//! The audit-journal driver: appended events (verifications) through the audit journal
//! (`keyward-journal`), taken into the engine in the background.
//!
//! One writer thread owns the journal and is its group commit ([`GroupCommit::on_thread`]):
//! it takes every append waiting, checks the engine is not too far behind (backpressure),
//! writes them as one batch (one sequential write, one `fdatasync`), answers them all, and
//! hands the events to the ingester. The ingester, a Tokio task, takes them into the engine
//! in large transactions that also advance the engine's journal position
//! ([`IngestTarget::take_in`]), then releases their journal space. Opening replays whatever a
//! crash left between the two.
//!
//! Readers and writers of the chain first [settle](crate::Journaled::settle): they wait until
//! every event appended so far has been taken in, so a query sees every verification
//! answered before it began, and a management event is chained after them.

use crate::group_commit::{Batch, CommitOnThread, GroupCommit, Stopped};
use async_trait::async_trait;
use keyward_core::{NewEvent, StoreError};
use keyward_journal::{Journal, JournalError, Options, Record, Releaser};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

/// Most appends the writer thread commits together.
const MAX_GROUP: usize = 4096;
/// Group-commit batches taken in per transaction at most.
const BATCHES_PER_INGEST: usize = 1024;
/// How long the ingester gathers batches before a transaction, unless a reader or writer of
/// the chain is waiting: large transactions cost the database far less per event (each
/// B-tree page is written once per transaction, not once per batch), and nothing depends on
/// taking events in sooner, since they are durable in the journal.
const INGEST_LINGER: Duration = Duration::from_millis(100);
/// Most events the engine may be behind the journal before new groups wait for it.
const MAX_LAG: u64 = 20_000;
/// How long appends wait for journal space while the ingester is a whole journal behind
/// (or more than [`MAX_LAG`] events), and how often they look.
const FULL_WAIT: Duration = Duration::from_secs(5);
const FULL_POLL: Duration = Duration::from_millis(1);
/// Events per transaction when replaying after a crash.
const REPLAY_CHUNK: usize = 8192;
/// How long a reader or writer of the chain waits for the journal to be taken in before
/// giving up (the engine is failing: the ingester retries meanwhile).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry delays of a failing ingest.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Where an engine stands in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JournalPosition {
    /// The last LSN taken in (0 before the first).
    pub lsn: u64,
    /// The journal in use, recorded while one is (`None` after a clean stop).
    pub journal_id: Option<String>,
}

/// What an engine implements to be fed by the audit journal.
#[async_trait]
pub trait IngestTarget: Send + Sync + 'static {
    /// The engine's position in the journal.
    async fn journal_position(&self) -> Result<JournalPosition, StoreError>;
    /// Records `journal_id` as the journal in use: after a crash the engine then refuses any
    /// other journal (which would silently lose what only its own holds).
    async fn bind_journal(&self, journal_id: &str) -> Result<(), StoreError>;
    /// Clears the journal in use if it is still `journal_id`: everything is taken in, so
    /// another journal may continue (the database can move without the directory).
    async fn release_journal(&self, journal_id: &str) -> Result<(), StoreError>;
    /// In one transaction: appends to their chains the events after the stored position
    /// (see [`unseen`]) and advances the position to the last LSN of `events`. Taking in the
    /// same records twice (a retry after a commit whose answer was lost) changes nothing.
    async fn take_in(&self, events: &[(u64, NewEvent)]) -> Result<(), StoreError>;
    /// Releases the engine's own resources (connections) once the journal is released.
    async fn close(&self) {}
}

/// The events of `events` after position `done`, for [`IngestTarget::take_in`] to call with
/// the position it read inside its transaction: none if all were taken in already; an error
/// if they do not continue the position without a gap.
pub fn unseen(done: u64, events: &[(u64, NewEvent)]) -> Result<&[(u64, NewEvent)], StoreError> {
    let fresh = &events[events.partition_point(|(lsn, _)| *lsn <= done)..];
    if fresh.first().is_some_and(|(lsn, _)| *lsn != done + 1) {
        return Err(StoreError::Corrupt(format!(
            "audit journal records do not continue the database's position {done}"
        )));
    }
    Ok(fresh)
}

/// One caller's events, encoded, for the writer thread.
struct Append {
    payloads: Vec<Vec<u8>>,
    events: Vec<NewEvent>,
}

type Answer = Result<(), String>;

/// Events made durable in the journal, with the LSNs they were given, on their way in.
struct Journaled {
    lsns: Range<u64>,
    events: Vec<NewEvent>,
}

pub(crate) struct AuditJournal {
    dir: PathBuf,
    /// The journal's identity, bound in the engine while it is in use.
    journal_id: String,
    target: Arc<dyn IngestTarget>,
    appends: GroupCommit<Append, Answer>,
    /// The last LSN appended (durable in the journal).
    appended: Arc<AtomicU64>,
    /// The last LSN taken into the engine.
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
    /// Opens the journal in `dir`, takes in what it holds beyond the engine's position, and
    /// starts the writer thread and the ingester.
    pub(crate) async fn open(
        target: Arc<dyn IngestTarget>,
        dir: &Path,
        options: Options,
    ) -> Result<Self, StoreError> {
        let JournalPosition {
            lsn: after,
            journal_id: attached,
        } = target.journal_position().await?;
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
        target.bind_journal(journal.id()).await?;
        let journal_id = journal.id().to_owned();
        let mut last = after;
        for chunk in pending.chunks(REPLAY_CHUNK) {
            target.take_in(&decode(chunk)?).await?;
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
        let (to_ingest, queue) = mpsc::unbounded_channel();
        let (ingested_tx, ingested) = watch::channel(last);
        let writer = Writer {
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
        let appends = GroupCommit::on_thread("keyward-journal", MAX_GROUP, writer)
            .map_err(|e| StoreError::Unavailable(format!("starting the journal writer: {e}")))?;
        tokio::spawn(ingest(
            target.clone(),
            releaser,
            queue,
            ingested_tx,
            hurry.clone(),
            ingest_failing.clone(),
        ));
        Ok(Self {
            dir: dir.to_owned(),
            journal_id,
            target,
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
        // All or nothing, as in the database: one event it would refuse refuses the batch.
        if let Some(refusal) = events.iter().find_map(NewEvent::refusal) {
            return Err(StoreError::Refused(refusal.to_owned()));
        }
        let payloads = events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Unavailable(format!("encoding an audit event: {e}")))?;
        match self.appends.submit(Append { payloads, events }).await {
            Ok(result) => result.map_err(StoreError::Unavailable),
            Err(Stopped::Before) => Err(StoreError::Unavailable(
                "the audit journal writer has stopped".into(),
            )),
            Err(Stopped::MidBatch) => Err(StoreError::Unavailable(
                "the audit journal writer stopped mid-batch".into(),
            )),
        }
    }

    /// Whether the journal still accepts appends (it refuses them after a failed write, until
    /// the server restarts and reads back what reached the disk) and the engine is taking its
    /// events in.
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
    /// releases its lock, then waits until everything it wrote is in the engine and releases
    /// the engine's binding to it.
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        self.appends.stop().await;
        self.settle().await?;
        self.target.release_journal(&self.journal_id).await
    }

    /// Events durable in the journal and not yet in the engine.
    pub(crate) fn lag(&self) -> u64 {
        let appended = self.appended.load(Ordering::Acquire);
        appended.saturating_sub(*self.ingested.borrow())
    }

    /// Each durable write's time and the appends it held.
    pub(crate) fn commit_stats(&self) -> Arc<crate::CommitStats> {
        self.appends.stats().clone()
    }

    /// Waits until every event appended before this call is in the engine.
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

/// The writer thread's committer: it owns the journal, which it closes (releasing its lock)
/// when dropped.
struct Writer {
    journal: Journal,
    to_ingest: mpsc::UnboundedSender<Journaled>,
    appended: Arc<AtomicU64>,
    poisoned: Arc<AtomicBool>,
    ingested: watch::Receiver<u64>,
    hurry: Arc<Notify>,
}

impl CommitOnThread<Append, Answer> for Writer {
    fn commit(&mut self, batch: Batch<Append, Answer>) {
        self.wait_for_ingestion();
        self.commit_group(batch);
        self.poisoned
            .store(self.journal.is_poisoned(), Ordering::Release);
    }
}

impl Writer {
    /// Backpressure: while the engine is more than [`MAX_LAG`] events behind the journal, new
    /// groups wait (up to [`FULL_WAIT`]), so verification never runs ahead of what the audit
    /// trail can take in for longer than a short burst, and a settle never has more than
    /// that to wait for.
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
    fn commit_group(&mut self, batch: Batch<Append, Answer>) {
        let (group, answers) = batch.into_parts();
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
        drop(payloads);
        match &result {
            Ok(lsns) => {
                let events = group.into_iter().flat_map(|a| a.events).collect();
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
        answers.all(result.map(|_| ()));
    }
}

/// Takes `records` (read from a journal, e.g. by `keyward_journal::read_snapshot`) into
/// `target` as a start after a crash would, in chunks; records already taken in change
/// nothing, and records that do not continue the target's position are refused.
pub async fn take_in_records(
    target: &dyn IngestTarget,
    records: &[Record],
) -> Result<(), StoreError> {
    for chunk in records.chunks(REPLAY_CHUNK) {
        target.take_in(&decode(chunk)?).await?;
    }
    Ok(())
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

/// The background ingester: takes journaled batches into the engine, many per transaction
/// (gathered for up to [`INGEST_LINGER`], or until someone is waiting to settle), retrying
/// with backoff while the engine fails (the events are safe in the journal meanwhile), then
/// releases their journal space. Ends when the writer thread does.
async fn ingest(
    target: Arc<dyn IngestTarget>,
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
        while let Err(e) = target.take_in(&events).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use keyward_core::EventKind;

    fn at(lsns: Range<u64>) -> Vec<(u64, NewEvent)> {
        lsns.map(|lsn| {
            (
                lsn,
                NewEvent::new("ws_1", Utc::now(), EventKind::KeyVerified),
            )
        })
        .collect()
    }

    #[test]
    fn only_records_after_the_position_are_taken_in_and_without_a_gap() {
        let events = at(3..7);
        assert_eq!(unseen(2, &events).unwrap().len(), 4);
        assert_eq!(unseen(4, &events).unwrap()[0].0, 5);
        assert!(unseen(6, &events).unwrap().is_empty());
        assert!(unseen(9, &events).unwrap().is_empty());
        assert!(matches!(unseen(1, &events), Err(StoreError::Corrupt(_))));
    }
}
