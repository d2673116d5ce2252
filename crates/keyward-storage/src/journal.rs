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
//! Credit spends go through the same writer ([`AuditJournal::spend`]): it decides each spend
//! against the credit ledger ([`crate::ledger`]) in journal order and writes the balance it
//! leaves in the same record as the verification's event ([`Entry::Spent`]), so a spend and
//! its event are one durable write, and the ingester writes the balance into the engine in
//! the transaction that takes the event in. Should the write fail, the ledger takes the
//! batch's spends back. Writes that set credits [fence](AuditJournal::fence) the ledger.
//!
//! Readers and writers of the chain first [settle](crate::Journaled::settle): they wait until
//! every event appended so far has been taken in, so a query sees every verification
//! answered before it began, and a management event is chained after them.

use crate::entry::{Balance, Entry};
use crate::group_commit::{Batch, CommitOnThread, GroupCommit, Stopped};
use crate::ledger::{Decided, Ledger};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::spend::event_for_outcome;
use keyward_core::{CreditOutcome, Credits, NewEvent, StoreError};
use keyward_journal::{Journal, JournalError, Options, Record, Releaser};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

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
    /// In one transaction: appends to their chains the events of the entries after the stored
    /// position (see [`unseen`]), writes the balances those entries left
    /// ([`final_balances`](crate::final_balances)) and advances the position to the last LSN
    /// of `entries`. Taking in the same records twice (a retry after a commit whose answer was
    /// lost) changes nothing.
    async fn take_in(&self, entries: &[(u64, Entry)]) -> Result<(), StoreError>;
    /// The balance a spend on `key_id` draws from: the key holding it (the key itself, or the
    /// last of its rotation chain) and that key's credits (`None`: it has none); `None` when
    /// the key does not exist in the workspace.
    async fn credit_balance(
        &self,
        workspace_id: &str,
        key_id: &str,
    ) -> Result<Option<(String, Option<Credits>)>, StoreError>;
    /// Releases the engine's own resources (connections) once the journal is released.
    async fn close(&self) {}
}

/// The records of `events` after position `done`, for [`IngestTarget::take_in`] to call with
/// the position it read inside its transaction: none if all were taken in already; an error
/// if they do not continue the position without a gap.
pub fn unseen<T>(done: u64, events: &[(u64, T)]) -> Result<&[(u64, T)], StoreError> {
    let fresh = &events[events.partition_point(|(lsn, _)| *lsn <= done)..];
    if fresh.first().is_some_and(|(lsn, _)| *lsn != done + 1) {
        return Err(StoreError::Corrupt(format!(
            "audit journal records do not continue the database's position {done}"
        )));
    }
    Ok(fresh)
}

/// One caller's request to the writer thread.
enum Append {
    /// Events, encoded.
    Events {
        payloads: Vec<Vec<u8>>,
        events: Vec<NewEvent>,
    },
    /// A spend for the writer to decide, holding the ledger's fence open until it is durable.
    Spend {
        spend: Box<CreditSpend>,
        _fence: OwnedRwLockReadGuard<()>,
    },
}

/// Spend `cost` from a key's balance (after its refill as of `now`) and record `event`, if
/// any, as [`event_for_outcome`] makes it.
pub(crate) struct CreditSpend {
    pub(crate) workspace_id: String,
    pub(crate) key_id: String,
    pub(crate) cost: u64,
    pub(crate) now: DateTime<Utc>,
    pub(crate) event: Option<NewEvent>,
}

/// A spend's outcome (`None` for appended events, and for a key without credits).
type Answer = Result<Option<CreditOutcome>, StoreError>;

/// Records made durable in the journal, with the LSNs they were given, on their way in.
struct Journaled {
    lsns: Range<u64>,
    entries: Vec<Entry>,
}

/// Writes that set credits hold this exclusively; spends hold it shared until durable.
type Fence = Arc<RwLock<()>>;

/// Held by a write that sets credits: no spend is in flight, the engine holds every balance
/// the ledger gave, and when it is dropped (after the write) the ledger is cleared.
pub(crate) struct FenceGuard {
    ledger: Arc<Mutex<Ledger>>,
    _exclusive: OwnedRwLockWriteGuard<()>,
}

impl Drop for FenceGuard {
    fn drop(&mut self) {
        lock(&self.ledger).clear();
    }
}

/// The ledger, also after a panic while it was held (each change to it is one insert).
fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// Balances of the keys spent through the journal (see [`crate::ledger`]).
    ledger: Arc<Mutex<Ledger>>,
    fence: Fence,
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
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let writer = Writer {
            ledger: ledger.clone(),
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
            ledger,
            fence: Fence::default(),
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
        self.submit(Append::Events { payloads, events })
            .await
            .map(|_| ())
    }

    async fn submit(&self, append: Append) -> Answer {
        match self.appends.submit(append).await {
            Ok(answer) => answer,
            Err(Stopped::Before) => Err(StoreError::Unavailable(
                "the audit journal writer has stopped".into(),
            )),
            Err(Stopped::MidBatch) => Err(StoreError::Unavailable(
                "the audit journal writer stopped mid-batch".into(),
            )),
        }
    }

    /// Returns once the spend, decided by the writer in journal order, and its event are
    /// durable in the journal, in one record (group-committed with whatever else was waiting).
    pub(crate) async fn spend(&self, spend: CreditSpend) -> Answer {
        if let Some(refusal) = spend.event.as_ref().and_then(NewEvent::refusal) {
            return Err(StoreError::Refused(refusal.to_owned()));
        }
        let fence = self.fence.clone().read_owned().await;
        let known = lock(&self.ledger).knows(&spend.workspace_id, &spend.key_id);
        if !known {
            let found = self
                .target
                .credit_balance(&spend.workspace_id, &spend.key_id)
                .await?;
            let Some((holder, credits)) = found else {
                // No such key in the workspace: nothing to spend, the event all the same.
                if let Some(event) = spend.event {
                    self.append(vec![event_for_outcome(event, None)]).await?;
                }
                return Ok(None);
            };
            lock(&self.ledger).load(&spend.workspace_id, &spend.key_id, holder, credits);
        }
        self.submit(Append::Spend {
            spend: Box::new(spend),
            _fence: fence,
        })
        .await
    }

    /// Waits until no spend is in flight and the engine holds every balance the ledger gave,
    /// and keeps spends out until the guard is dropped, which clears the ledger: for a write
    /// that sets credits, so that no later spend decides on a balance from before it.
    pub(crate) async fn fence(&self) -> Result<FenceGuard, StoreError> {
        let exclusive = self.fence.clone().write_owned().await;
        self.settle().await?;
        Ok(FenceGuard {
            ledger: self.ledger.clone(),
            _exclusive: exclusive,
        })
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
    ledger: Arc<Mutex<Ledger>>,
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

    /// Decides the group's spends, writes the group as one durable batch, hands its records
    /// to the ingester and answers every caller in it; a failed write takes the spends back.
    fn commit_group(&mut self, batch: Batch<Append, Answer>) {
        let (group, answers) = batch.into_parts();
        let mut taken: Vec<(Balance, Credits)> = Vec::new();
        // Released only once the group is durable and counted as appended (below), so a
        // write that sets credits never settles before a spend it waited for.
        let mut fences = Vec::new();
        let prepared: Vec<Prepared> = {
            let mut ledger = lock(&self.ledger);
            group
                .into_iter()
                .map(|append| match append {
                    Append::Events { payloads, events } => Prepared {
                        payloads,
                        entries: events.into_iter().map(Entry::Event).collect(),
                        answer: Ok(None),
                    },
                    Append::Spend {
                        spend,
                        _fence: fence,
                    } => {
                        fences.push(fence);
                        decide(&mut ledger, *spend, &mut taken)
                    }
                })
                .collect()
        };
        let payloads: Vec<&[u8]> = prepared
            .iter()
            .flat_map(|p| p.payloads.iter().map(Vec::as_slice))
            .collect();
        let started = Instant::now();
        let result = if payloads.is_empty() {
            // Only spends that changed nothing: nothing to make durable.
            Ok(None)
        } else {
            loop {
                match self.journal.append(&payloads) {
                    // The ingester is behind by the whole journal: wait for it (backpressure),
                    // then fail closed.
                    Err(JournalError::Full(_)) if started.elapsed() < FULL_WAIT => {
                        std::thread::sleep(FULL_POLL);
                    }
                    other => break other.map(Some).map_err(|e| e.to_string()),
                }
            }
        };
        tracing::debug!(
            records = payloads.len(),
            micros = started.elapsed().as_micros() as u64,
            "journal group commit"
        );
        drop(payloads);
        match result {
            Ok(lsns) => {
                let mut entries = Vec::new();
                let answered: Vec<Answer> = prepared
                    .into_iter()
                    .map(|p| {
                        entries.extend(p.entries);
                        p.answer
                    })
                    .collect();
                if let Some(lsns) = lsns {
                    let last = lsns.end - 1;
                    if self.to_ingest.send(Journaled { lsns, entries }).is_err() {
                        // Durable in the journal all the same; the next start takes it in.
                        tracing::error!("the audit ingester has stopped");
                    }
                    // Only after the send: a settle that sees this LSN finds its batch queued.
                    self.appended.store(last, Ordering::Release);
                }
                answers.each(answered);
            }
            Err(e) => {
                let mut ledger = lock(&self.ledger);
                for (balance, before) in taken.iter().rev() {
                    ledger.undo(balance, *before);
                }
                drop(ledger);
                tracing::error!(error = %e, "writing the audit journal failed; the verifications are refused");
                answers.all(Err(StoreError::Unavailable(e)));
            }
        }
        drop(fences);
    }
}

/// One caller's records, encoded, and its answer should they be written.
struct Prepared {
    payloads: Vec<Vec<u8>>,
    entries: Vec<Entry>,
    answer: Answer,
}

/// Decides `spend` against the ledger: its record (the balance it left, if changed, and its
/// event) and its outcome; what it took from the ledger goes on `taken`, to put back should
/// the write fail.
fn decide(
    ledger: &mut Ledger,
    spend: CreditSpend,
    taken: &mut Vec<(Balance, Credits)>,
) -> Prepared {
    let refused = |answer: Answer| Prepared {
        payloads: Vec::new(),
        entries: Vec::new(),
        answer,
    };
    let Some(Decided { outcome, changed }) =
        ledger.spend(&spend.workspace_id, &spend.key_id, spend.cost, spend.now)
    else {
        // `AuditJournal::spend` loads the key before submitting, under the fence.
        return refused(Err(StoreError::Unavailable(
            "the credit ledger does not hold the key's balance".into(),
        )));
    };
    let event = spend.event.map(|event| event_for_outcome(event, outcome));
    let entry = match (changed, event) {
        (Some((balance, before)), event) => {
            taken.push((balance.clone(), before));
            Entry::Spent { balance, event }
        }
        (None, Some(event)) => Entry::Event(event),
        (None, None) => return refused(Ok(outcome)),
    };
    match entry.encode() {
        Ok(payload) => Prepared {
            payloads: vec![payload],
            entries: vec![entry],
            answer: Ok(outcome),
        },
        Err(e) => {
            if let (Some(balance), Some((_, before))) = (entry.balance(), taken.pop()) {
                ledger.undo(balance, before);
            }
            refused(Err(e))
        }
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

fn decode(records: &[Record]) -> Result<Vec<(u64, Entry)>, StoreError> {
    records
        .iter()
        .map(|r| Entry::decode(r.lsn, &r.payload).map(|entry| (r.lsn, entry)))
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
        let events: Vec<(u64, Entry)> = batches
            .drain(..)
            .flat_map(|b| b.lsns.zip(b.entries))
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

    fn at(lsns: Range<u64>) -> Vec<(u64, Entry)> {
        lsns.map(|lsn| {
            (
                lsn,
                Entry::Event(NewEvent::new("ws_1", Utc::now(), EventKind::KeyVerified)),
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
