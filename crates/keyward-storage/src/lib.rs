//! Storage machinery every engine shares, between the domain (`keyward-core`) and the
//! engines (`keyward-sqlite`): an engine implements [`Store`](keyward_core::Store) and a few
//! small traits, and gets the rest from here.
//!
//! - [`GroupCommit`]: the one group-commit mechanism. Callers submit a request and wait; one
//!   committer (a thread of its own, or a Tokio task) takes every request waiting, commits
//!   them as one batch and answers each.
//! - [`Journaled`]: a `Store` whose appended events (verifications) go through the audit
//!   journal (`keyward-journal`) and are taken into the engine in the background
//!   ([`IngestTarget`] is what the engine implements). The internals are in [`journal`]'s
//!   docs: one writer thread is the journal's group commit; before each group it waits while
//!   the engine is more than 20,000 events behind (backpressure); a failed write that may have
//!   reached a segment poisons the journal until restart; the ingester gathers batches for up
//!   to 100 ms into one transaction that also advances the engine's position, so every record
//!   is taken in exactly once, also after a crash (opening replays what lies after the
//!   position); the engine records the journal's id while it is in use and refuses another.
//!   Credit spends are decided by the journal's writer against an in-memory ledger and
//!   journaled with their verification's event in one record ([`Entry`]); the ingester
//!   writes the balance with the event.
//! - [`Grouped`]: a `Store` whose appends are group-committed in front of an engine without a
//!   journal (one transaction for every append waiting).
//! - [`Spender`]: credit spends group-committed, applied by the engine ([`SpendBatch`]) in
//!   order in one transaction, with the verification events they carry ([`recorded_events`]).
//! - [`copy_database`]: every record and the audit trail of one store copied into another,
//!   empty one, of any engine (`keyward migrate-db`).
//!
//! An engine opens itself, migrates, and is wrapped: `Journaled::open(engine, dir, options)`
//! for a database with a journal beside it, `Grouped::new(engine)` otherwise; the server holds
//! the wrapper as an `Arc<dyn Store>`, and its owner calls `Journaled::shut_down` after the
//! last request.

pub mod copy;
pub mod entry;
mod group_commit;
mod grouped;
pub mod journal;
mod journaled;
mod ledger;
pub mod metrics;
mod spends;

pub use copy::{copy_database, read_records, Copied, CopyError, Progress};
pub use entry::{final_balances, Balance, Entry};
pub use group_commit::{Answers, Batch, Commit, CommitOnThread, GroupCommit, Stopped, Waiting};
pub use grouped::Grouped;
pub use journal::{take_in_records, unseen, IngestTarget, JournalPosition};
pub use journaled::Journaled;
pub use keyward_journal::Options as JournalOptions;
pub use metrics::{CommitStats, PoolState, StorageMetrics};
pub use spends::{recorded_events, Spend, SpendAnswer, SpendBatch, Spender};
