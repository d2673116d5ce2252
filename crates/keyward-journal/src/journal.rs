//! The journal: opening (lock, scan, recover), appending durably, and reusing segments once
//! their records are released.

use crate::durable::DurableWriter;
use crate::private;
use crate::record::{self, HEADER_BYTES, MAX_PAYLOAD_BYTES};
use crate::segment::{self, Segment};
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Sizes of a journal.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Bytes in each new segment file.
    pub segment_bytes: u64,
    /// Most segment files; when every one holds unreleased records, appends fail with
    /// [`JournalError::Full`] until the consumer catches up.
    pub max_segments: usize,
}

impl Default for Options {
    /// 4 MiB segments (about 10,000 audit events each), at most 256 of them (1 GiB behind the
    /// consumer before writes are refused).
    fn default() -> Self {
        Self {
            segment_bytes: 4 << 20,
            max_segments: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("audit journal I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("the audit journal at {0} is in use by another process")]
    Locked(PathBuf),
    #[error(
        "the audit journal at {dir} does not continue the database's audit trail \
         (expected record {expected}, found {found}); it belongs to another copy of the \
         database, or records were lost. Move the directory aside to start without it"
    )]
    Discontinuous {
        dir: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("the audit journal is full: its consumer has fallen {0} segments behind")]
    Full(usize),
    #[error("a journal record of {0} bytes is larger than a record may be")]
    TooLarge(usize),
    #[error("the audit journal failed earlier and refuses writes until restarted")]
    Poisoned,
}

/// The journal's identity from `dir/ID`, made (and made durable) when missing.
fn identity(dir: &Path) -> Result<String, JournalError> {
    let path = dir.join("ID");
    match fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("no randomness for the journal id: {e}")))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let temporary = dir.join("ID.tmp");
    let mut file = private::options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    private::restrict(&file)?;
    io::Write::write_all(&mut file, id.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, &path)?;
    segment::sync_dir(dir)?;
    Ok(id)
}

/// What a journal held when [`read_snapshot`] read it.
#[derive(Debug)]
pub struct Snapshot {
    /// The journal's identity (`None`: a directory never used as a journal).
    pub id: Option<String>,
    /// Every record found after the position read from, in LSN order.
    found: Vec<Record>,
}

impl Snapshot {
    /// The records after `position` (at least the position the snapshot was read from), as
    /// far as they continue it without a gap. A record missing from the run was written
    /// after its segment was read, so it and everything after it came later than the read.
    pub fn after(self, position: u64) -> Vec<Record> {
        (position + 1..)
            .zip(self.found.into_iter().filter(|r| r.lsn > position))
            .take_while(|(expected, record)| record.lsn == *expected)
            .map(|(_, record)| record)
            .collect()
    }
}

/// Reads the records after LSN `after` of the journal in `dir` without locking or changing
/// it, so while the server that owns it keeps writing (a backup).
///
/// Every record made durable before the call is either read, or was released (taken in by
/// the consumer) before its segment was read, since a segment is reused only once every
/// record in it is released. So the consumer's position read *after* this call, with
/// [`Snapshot::after`] that position, holds every record made durable before the call.
pub fn read_snapshot(dir: &Path, after: u64) -> Result<Snapshot, JournalError> {
    let id = match fs::read_to_string(dir.join("ID")) {
        Ok(id) if !id.trim().is_empty() => Some(id.trim().to_owned()),
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut found: Vec<Record> = segment::read_all(dir, after)?
        .into_iter()
        .map(|(lsn, payload)| Record { lsn, payload })
        .collect();
    found.sort_by_key(|r| r.lsn);
    found.dedup_by_key(|r| r.lsn);
    Ok(Snapshot { id, found })
}

/// Releases journal records: see [`Journal::release`].
#[derive(Debug, Clone)]
pub struct Releaser(Arc<AtomicU64>);

impl Releaser {
    pub fn release(&self, lsn: u64) {
        self.0.fetch_max(lsn, Ordering::AcqRel);
    }
}

/// A record read back when opening: its LSN and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    pub payload: Vec<u8>,
}

/// An append-only log of payloads, each durable before [`Journal::append`] returns.
///
/// Records are numbered by LSN (1, 2, 3, … across restarts). The consumer keeps its own
/// durable note of the last LSN it has taken in (`after` when opening) and tells the journal
/// with [`Journal::release`]; segments whose records are all released are written over.
pub struct Journal {
    /// Random, made when the directory is first used (the `ID` file): lets a consumer tell
    /// its journal from another one.
    id: String,
    dir: PathBuf,
    options: Options,
    segments: Vec<Segment>,
    /// The segment being written; chosen at the first append, so that the records returned
    /// by `open` can be released first and their segments reused.
    current: Option<usize>,
    /// Where the next record goes in the current segment.
    offset: u64,
    next_lsn: u64,
    released: Releaser,
    /// Set by a failed write: what reached the disk is unknown until the next open scans it
    /// (an `fsync` error may drop dirty pages, so retrying could acknowledge lost data).
    poisoned: bool,
    /// A write or sync failed (poisons the journal).
    write_failed: bool,
    /// Bytes written durably since opening.
    bytes_written: u64,
    buf: Vec<u8>,
    writer: DurableWriter,
    /// Held (locked) for the journal's life, so two servers never write one journal.
    _lock: File,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, and returns with it every record
    /// after LSN `after`, in order, for the consumer to take in before anything else.
    pub fn open(
        dir: &Path,
        options: Options,
        after: u64,
    ) -> Result<(Self, Vec<Record>), JournalError> {
        if !dir.exists() {
            private::create_dir_all(dir)?;
            // The new directory's own entry must survive a crash too.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                segment::sync_dir(parent)?;
            }
        }
        let lock = private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        private::restrict(&lock)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(JournalError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        let id = identity(dir)?;

        let scanned = segment::open_all(dir, after)?;
        let mut pending: Vec<Record> = Vec::new();
        let mut highest = after;
        let mut segments = Vec::with_capacity(scanned.len());
        for s in scanned {
            highest = highest.max(s.segment.last_lsn);
            pending.extend(
                s.records
                    .into_iter()
                    .map(|(lsn, payload)| Record { lsn, payload }),
            );
            segments.push(s.segment);
        }
        pending.sort_by_key(|r| r.lsn);
        for (expected, record) in (after + 1..).zip(&pending) {
            if record.lsn != expected {
                return Err(JournalError::Discontinuous {
                    dir: dir.to_owned(),
                    expected,
                    found: record.lsn,
                });
            }
        }

        let journal = Self {
            id,
            dir: dir.to_owned(),
            options,
            segments,
            current: None,
            offset: 0,
            next_lsn: highest + 1,
            released: Releaser(Arc::new(AtomicU64::new(after))),
            poisoned: false,
            write_failed: false,
            bytes_written: 0,
            buf: Vec::new(),
            writer: DurableWriter::default(),
            _lock: lock,
        };
        Ok((journal, pending))
    }

    /// Writes `payloads` as consecutive records and returns once they are on stable storage,
    /// with the LSNs they were given. A batch that does not fit the current segment continues
    /// in the next.
    ///
    /// After an error nothing more is accepted ([`JournalError::Poisoned`]): records of the
    /// batch may or may not have reached the disk, and the next open decides by reading them.
    pub fn append<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<Range<u64>, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        if let Some(p) = payloads
            .iter()
            .find(|p| !self.fits_a_segment(p.as_ref().len()))
        {
            return Err(JournalError::TooLarge(p.as_ref().len()));
        }
        // Refused before anything is written, so nothing is poisoned: once the consumer
        // catches up the next append goes through.
        if !self.has_room_for(payloads) {
            return Err(JournalError::Full(self.segments.len()));
        }
        let first = self.next_lsn;
        let written_before = self.bytes_written;
        let result = self.write_all(payloads);
        // Poisoned only if some of this batch may have reached a segment (a failed write or
        // sync); a segment that could not be created touched nothing.
        if result.is_err() && (self.write_failed || self.bytes_written != written_before) {
            self.poisoned = true;
        }
        result.map(|()| first..self.next_lsn)
    }

    /// Records up to and including `lsn` are taken in by the consumer: their segments may be
    /// written over.
    pub fn release(&mut self, lsn: u64) {
        self.released.release(lsn);
    }

    /// A handle that releases records from another thread, without access to the journal
    /// (whose owner may be blocked in a sync).
    pub fn releaser(&self) -> Releaser {
        self.released.clone()
    }

    /// Whether a failed write has made the journal refuse further appends until reopened.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// This journal's identity (see the `ID` file).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The LSN the next record will get.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Whether the segment being written takes direct writes (see the `durable` module);
    /// `None` before the first append.
    pub fn direct_io(&self) -> Option<bool> {
        self.current.map(|_| self.writer.is_direct())
    }

    /// Segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Whether `payloads` fit, placed as [`Self::write_all`] would place them: in what is
    /// left of the current segment, then in the segments that are free, then in segments that
    /// may still be created.
    fn has_room_for<P: AsRef<[u8]>>(&self, payloads: &[P]) -> bool {
        let released = self.released.0.load(Ordering::Acquire);
        let free = (0..self.segments.len())
            .filter(|&i| self.is_free(i, released))
            .map(|i| self.segments[i].capacity);
        let creatable = self
            .options
            .max_segments
            .saturating_sub(self.segments.len());
        let mut next_segments =
            free.chain(std::iter::repeat_n(self.options.segment_bytes, creatable));
        let mut room = self
            .current
            .map_or(0, |i| self.segments[i].capacity.saturating_sub(self.offset));
        for payload in payloads {
            let size = (HEADER_BYTES + payload.as_ref().len()) as u64;
            while size > room {
                match next_segments.next() {
                    Some(capacity) => room = capacity,
                    None => return false,
                }
            }
            room -= size;
        }
        true
    }

    /// Whether segment `i` may be written over next: not the current one, every record in it
    /// released, and of the configured size (a segment made with another size is only read,
    /// so a record never goes looking for room in segments too small for it).
    fn is_free(&self, i: usize, released: u64) -> bool {
        Some(i) != self.current
            && self.segments[i].last_lsn <= released
            && self.segments[i].capacity == self.options.segment_bytes
    }

    fn fits_a_segment(&self, payload_len: usize) -> bool {
        payload_len <= MAX_PAYLOAD_BYTES
            && (HEADER_BYTES + payload_len) as u64 <= self.options.segment_bytes
    }

    fn write_all<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<(), JournalError> {
        let mut rest = payloads;
        while !rest.is_empty() {
            let Some(current) = self.current else {
                // The first append after opening never continues a segment a crash may have
                // left half-written: it starts at the front of a free one.
                self.move_to_free_segment()?;
                continue;
            };
            let capacity = self.segments[current].capacity;
            self.buf.clear();
            let mut lsn = self.next_lsn;
            let mut taken = 0;
            for payload in rest {
                let payload = payload.as_ref();
                if self.offset + (self.buf.len() + HEADER_BYTES + payload.len()) as u64 > capacity {
                    break;
                }
                record::encode(&mut self.buf, lsn, payload);
                lsn += 1;
                taken += 1;
            }
            if taken == 0 {
                self.move_to_free_segment()?;
                continue;
            }
            let segment = &mut self.segments[current];
            if let Err(e) = self.writer.write(segment, self.offset, &self.buf) {
                self.write_failed = true;
                return Err(e.into());
            }
            self.bytes_written += self.buf.len() as u64;
            segment.last_lsn = lsn - 1;
            self.offset += self.buf.len() as u64;
            self.next_lsn = lsn;
            rest = &rest[taken..];
        }
        Ok(())
    }

    /// Continues at the front of a segment other than the current one whose records are all
    /// released, creating a segment if every one still holds records the consumer wants.
    fn move_to_free_segment(&mut self) -> Result<(), JournalError> {
        let released = self.released.0.load(Ordering::Acquire);
        let free = (0..self.segments.len()).find(|&i| self.is_free(i, released));
        let index = match free {
            Some(i) => i,
            None if self.segments.len() < self.options.max_segments => {
                let number = self
                    .segments
                    .iter()
                    .filter_map(segment::number)
                    .max()
                    .map_or(0, |n| n + 1);
                self.segments.push(segment::create(
                    &self.dir,
                    number,
                    self.options.segment_bytes,
                )?);
                self.segments.len() - 1
            }
            None => return Err(JournalError::Full(self.segments.len())),
        };
        self.writer.start_segment(&self.segments[index]);
        self.current = Some(index);
        self.offset = 0;
        Ok(())
    }
}
