//! keyward's audit write-ahead log: an append-only journal of checksummed records in
//! fixed-size, pre-zeroed segment files, each append durable before it returns (on Linux one
//! direct write with `RWF_DSYNC`, elsewhere a write and `fdatasync`: see `durable`).
//!
//! Why it exists: a verification answers only once its audit event is durable. Committing
//! events to the database costs a full transaction per group commit (B-tree pages, indexes,
//! WAL frames, then the sync); appending them here costs one sequential write and one
//! sync of data blocks that already exist. The database takes the events in from the
//! journal in the background, in large batches, and records which LSN it has reached in the
//! same transaction, so every record is taken in exactly once, including after a crash.
//!
//! Hand-written because no production-ready crate does this small job with these guarantees
//! (see ARCHITECTURE.md, "Hand-written").

mod durable;
mod journal;
mod private;
mod record;
mod segment;

pub use journal::{Journal, JournalError, Options, Record, Releaser};
pub use record::{HEADER_BYTES, MAX_PAYLOAD_BYTES};
