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
//! (see ARCHITECTURE.md, "Hand-written"). The driver that feeds a database from it (writer
//! thread, ingester, replay, settle) is `keyward_storage::journal`.
//!
//! # Segments and commits
//!
//! Fixed-size segment files (4 MiB by default), zero-filled when created, written front to
//! back. On Linux a commit is one `pwritev2` with `RWF_DSYNC` on an `O_DIRECT` handle
//! (`durable`): the batch goes to the device and the device's cache is flushed in one system
//! call, with no page cache in between. Direct writes move whole 4 KiB blocks from aligned
//! memory, so each batch is written from the start of its block, the block's earlier bytes
//! (the previous batch's tail, kept in memory) rewritten unchanged. Where direct I/O is
//! refused (another OS or file system, an odd segment size, a kernel without `RWF_DSYNC`), a
//! commit is a buffered write and `fdatasync`. Linux caches a file in folios of up to 2 MiB
//! and a buffered commit writes its whole folio back, so segments are zero-filled in
//! page-sized writes (a write makes folios of its size) and opened with readahead off
//! (reading segments back at open would ramp readahead up to large folios); otherwise a
//! buffered commit of a few KB wrote a whole large folio back
//! (`scripts/journal-folio-writes.py`). `posix_fadvise`, `O_DIRECT` and `pwritev2` come from
//! `rustix` (safe, Linux only).
//!
//! # Records and recovery
//!
//! Each record is `[length][crc32 of LSN and payload][LSN][payload]`, with LSNs 1, 2, 3…
//! across restarts. Recovery reads each segment's run of intact, consecutive records and
//! zeroes what follows it (a torn batch may leave a whole later record past the tear, which a
//! new run could otherwise appear to continue), then returns the records after the
//! consumer's position and requires them to continue it without a gap: a journal from
//! another copy of the database, or with records lost, is refused. A failed write poisons the
//! journal (it refuses appends until reopened), since after an `fsync` error what reached the
//! disk is only known by reading it back; a failure to create a segment touches nothing and
//! poisons nothing, and neither does a full journal (the check comes before any write).
//!
//! A `LOCK` file keeps a second process out. The journal has an identity (its `ID` file),
//! which the consumer records while the journal is in use, so after a crash it can refuse any
//! other journal. Space is reused once the consumer has [released](Releaser::release) the
//! records in it; at most 256 segments (1 GiB) by default.

mod durable;
mod journal;
mod private;
mod record;
mod segment;

pub use journal::{read_snapshot, Journal, JournalError, Options, Record, Releaser, Snapshot};
pub use record::{HEADER_BYTES, MAX_PAYLOAD_BYTES};
