//! Segment files: fixed-size, zero-filled before first use, written front to back and reused
//! once every record in them is no longer needed.
//!
//! Zero-filling costs one write of the whole file when it is created, and buys cheap commits
//! for its whole life: overwriting blocks that already exist lets `fdatasync` flush data only,
//! where appending to a growing (or merely `fallocate`d) file also commits file-system metadata
//! on every sync (measured on ext4: slower syncs, with a much longer tail).
//!
//! Linux (ext4 since 6.x) caches a file in folios of up to 2 MiB, and a buffered commit that
//! changes one byte of a folio writes the whole folio back. Commits bypass the page cache
//! where they can (direct I/O, see `durable`), but the zero-fill, the scan at opening and the
//! buffered fallback go through it, so the page cache must hold segments in small folios:
//! - the zeros go in page-sized writes, because a write creates folios of its own size: after
//!   a zero-fill in 64 KiB writes, every buffered commit of a few hundred bytes wrote a whole
//!   64 KiB folio back to the disk;
//! - readahead is off for segment files ([`no_readahead`]), because sequential reads (opening
//!   the journal reads every segment back) ramp readahead up to large folios, and each
//!   buffered commit then writes one of those back (`scripts/journal-folio-writes.py` measures
//!   both effects on a given file system).

use crate::record;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const EXTENSION: &str = "seg";
/// One page: the unit in which segments are zero-filled (see the module comment).
static ZEROS: [u8; 4096] = [0; 4096];

pub(crate) struct Segment {
    pub path: PathBuf,
    pub file: File,
    /// The file's size, fixed when it was created.
    pub capacity: u64,
    /// The highest LSN written into it (0 when it holds none still wanted): it may be reused
    /// once that record has been released.
    pub last_lsn: u64,
}

/// A run of records read back from one segment: consecutive LSNs from the start of the file
/// (those after the consumer's position).
pub(crate) struct Scanned {
    pub segment: Segment,
    pub records: Vec<(u64, Vec<u8>)>,
}

pub(crate) fn path(dir: &Path, number: usize) -> PathBuf {
    dir.join(format!("{number:06}.{EXTENSION}"))
}

/// Creates segment `number`, zero-filled to `capacity` and durable (file and directory entry)
/// before it returns. It is built under a temporary name and renamed, so a crash mid-way
/// never leaves a short segment behind.
pub(crate) fn create(dir: &Path, number: usize, capacity: u64) -> io::Result<Segment> {
    let target = path(dir, number);
    let temporary = target.with_extension("tmp");
    let mut file = crate::private::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    crate::private::restrict(&file)?;
    no_readahead(&file);
    write_zeros(&mut file, capacity)?;
    file.sync_all()?;
    fs::rename(&temporary, &target)?;
    sync_dir(dir)?;
    Ok(Segment {
        path: target,
        file,
        capacity,
        last_lsn: 0,
    })
}

/// Every segment in `dir` with the records it holds after LSN `after` (older ones are only
/// counted, never copied); leftovers of an interrupted [`create`] are removed.
pub(crate) fn open_all(dir: &Path, after: u64) -> io::Result<Vec<Scanned>> {
    let mut scanned = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some(EXTENSION) => scanned.push(scan(path, after)?),
            Some("tmp") => fs::remove_file(&path)?,
            _ => {}
        }
    }
    scanned.sort_by(|a, b| a.segment.path.cmp(&b.segment.path));
    Ok(scanned)
}

/// Reads the records at the front of a segment, stopping at the first that does not decode
/// or does not continue the LSN sequence (what lies beyond was never acknowledged, or is an
/// older use of a reused segment), then zeroes everything beyond them.
///
/// Zeroing matters for a crash that tore a batch: a later record of that batch may have
/// reached the disk whole, past the tear, carrying an LSN the next run will hand out again.
/// Left in place, a new run whose records happened to end exactly where it starts would make
/// it look like their continuation. After the scrub the only records on disk are the
/// recovered ones.
fn scan(path: PathBuf, after: u64) -> io::Result<Scanned> {
    let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
    no_readahead(&file);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let Run {
        records,
        last,
        end: at,
    } = run(&bytes, after);
    if bytes[at..].iter().any(|&b| b != 0) {
        file.seek(SeekFrom::Start(at as u64))?;
        write_zeros(&mut file, (bytes.len() - at) as u64)?;
        file.sync_data()?;
    }
    let last_lsn = last.unwrap_or(0);
    Ok(Scanned {
        segment: Segment {
            path,
            file,
            capacity: bytes.len() as u64,
            last_lsn,
        },
        records,
    })
}

/// The consecutive records at the front of a segment's bytes.
struct Run {
    /// Those after the consumer's position.
    records: Vec<(u64, Vec<u8>)>,
    /// The last LSN of the run, if any.
    last: Option<u64>,
    /// Where the run ends.
    end: usize,
}

fn run(bytes: &[u8], after: u64) -> Run {
    let mut records: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut last: Option<u64> = None;
    let mut at = 0;
    while let Some((lsn, payload, used)) = record::decode(&bytes[at..]) {
        if last.is_some_and(|last| lsn != last + 1) {
            break;
        }
        if lsn > after {
            records.push((lsn, payload.to_vec()));
        }
        last = Some(lsn);
        at += used;
    }
    Run {
        records,
        last,
        end: at,
    }
}

/// The records after `after` of every segment in `dir`, read without writing anything:
/// for a copy of a journal another process may be writing (see [`crate::read_snapshot`]).
pub(crate) fn read_all(dir: &Path, after: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
    let mut records = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        let mut file = match File::open(&path) {
            Ok(file) => file,
            // Removed since the listing: nothing in it was still wanted.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        no_readahead(&file);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        records.extend(run(&bytes, after).records);
    }
    Ok(records)
}

/// The segment's number, from its file name.
pub(crate) fn number(segment: &Segment) -> Option<usize> {
    segment.path.file_stem()?.to_str()?.parse().ok()
}

/// Segments are written in small appends and read once, at open: readahead would only fill
/// the cache with large folios (see the module comment). The advice is a hint; a kernel that
/// refuses it costs write amplification, not correctness, so its error is ignored.
#[cfg(target_os = "linux")]
fn no_readahead(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::Random);
}

#[cfg(not(target_os = "linux"))]
fn no_readahead(_file: &File) {}

/// Writes `count` zero bytes at the file's position.
fn write_zeros(file: &mut File, count: u64) -> io::Result<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(ZEROS.len() as u64) as usize;
        file.write_all(&ZEROS[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Makes a directory's entries (a created or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
