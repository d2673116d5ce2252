//! How a batch of records reaches stable storage.
//!
//! On Linux, segments are written with direct I/O (`O_DIRECT`) and each write carries
//! `RWF_DSYNC`: one system call puts the batch on the device and flushes the device's cache,
//! with no page cache in between. Against a buffered `write` and `fdatasync` that spares the
//! kernel the page-cache bookkeeping and the writeback of each commit: less CPU and a shorter
//! wait per commit in alternating `commit_latency` runs on ext4. And the page cache's
//! large folios (see `segment`) no longer decide how much of the file a commit writes.
//!
//! Direct I/O moves whole blocks from block-aligned memory, so a batch that starts inside a
//! block is written from the start of that block: the writer keeps the block's earlier bytes
//! (the tail of the previous batch) and writes them again, unchanged, ahead of the new
//! records, then zeros to the end of the block. Past the records, a segment holds zeros or
//! released records of an earlier use, and recovery stops at the first byte that does not
//! continue the records (see `segment::scan`), so the padding loses nothing. The rewritten
//! bytes are the ones already there; a device that tears writes only at sector boundaries
//! leaves them intact whatever it tears (the buffered path, which writes whole pages back,
//! relied on the same).
//!
//! Where direct I/O is not available (another OS, a file system that refuses it, a segment
//! whose size is not a whole number of blocks), the batch goes through the page cache and
//! `fdatasync`, as before.

use crate::segment::Segment;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

/// The alignment of direct writes, in memory and on disk: a page, which is a whole number of
/// logical blocks on every device the journal expects (512 bytes or 4 KiB).
pub(crate) const BLOCK: usize = 4096;

/// Writes batches one after another into the segment being written, and holds what only
/// that segment needs: its direct handle and its last partly written block.
#[derive(Default)]
pub(crate) struct DurableWriter {
    /// A handle for direct writes to the segment being written, where they are available.
    direct: Option<File>,
    /// The bytes of the current segment's last partly written block, from the block's start
    /// (empty at a block boundary).
    tail: Vec<u8>,
    /// Scratch memory for direct writes, with room to start at a [`BLOCK`]-aligned address.
    scratch: Vec<u8>,
}

impl DurableWriter {
    /// The next write starts `segment`, at its front. The previous segment's direct handle
    /// is closed, so a journal of many segments holds one more file open, not twice as many.
    pub(crate) fn start_segment(&mut self, segment: &Segment) {
        self.direct = open_direct(&segment.path, segment.capacity);
        self.tail.clear();
    }

    /// Whether writes to the segment being written go direct.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Writes `bytes` at `offset` of `segment` (right after the previous write to it, or at the
    /// front after [`Self::start_segment`]) and returns once they are on stable storage.
    pub(crate) fn write(
        &mut self,
        segment: &mut Segment,
        offset: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        let follows = offset % BLOCK as u64 == self.tail.len() as u64;
        // The caller writes a segment front to back through this writer, so the tail always
        // matches; a mismatch would silently cost the direct path, so tests catch it here.
        debug_assert!(
            follows,
            "a journal write does not continue the previous one"
        );
        let end = offset + bytes.len() as u64;
        let result = match &self.direct {
            Some(direct) if follows && round_up(end) <= segment.capacity => {
                match write_direct(direct, &mut self.scratch, &self.tail, offset, bytes) {
                    // Refused before anything is written: a device whose blocks are larger
                    // than `BLOCK` (the alignment), a kernel without `pwritev2` or
                    // `RWF_DSYNC`, a sandbox that forbids the call. The batch goes through
                    // the page cache instead, and so does every later one in this segment.
                    // Any other error (EIO above all) is returned: what reached the disk is
                    // then unknown, and the journal refuses writes until reopened.
                    Err(e) if refused(&e) => {
                        self.direct = None;
                        write_buffered(&mut segment.file, offset, bytes)
                    }
                    other => other,
                }
            }
            _ => write_buffered(&mut segment.file, offset, bytes),
        };
        result?;
        self.remember_tail(offset, bytes);
        Ok(())
    }

    /// Keeps the bytes from the start of the block where `offset + bytes.len()` falls.
    fn remember_tail(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        let block_start = end - end % BLOCK as u64;
        if block_start > offset {
            self.tail.clear();
            let from = (block_start - offset) as usize;
            self.tail.extend_from_slice(&bytes[from..]);
        } else {
            self.tail.extend_from_slice(bytes);
        }
    }
}

/// Writes `tail` (the start of the block `offset` falls in) and then `bytes` from the block's
/// start, padded with zeros to whole blocks, in one direct write with `RWF_DSYNC`.
#[cfg(target_os = "linux")]
fn write_direct(
    file: &File,
    scratch: &mut Vec<u8>,
    tail: &[u8],
    offset: u64,
    bytes: &[u8],
) -> io::Result<()> {
    use rustix::io::{pwritev2, ReadWriteFlags};
    let start = offset - tail.len() as u64;
    let len = round_up((tail.len() + bytes.len()) as u64) as usize;
    scratch.clear();
    scratch.resize(len + BLOCK, 0);
    let skip = scratch.as_ptr().align_offset(BLOCK);
    let Some(buf) = scratch.get_mut(skip..skip + len) else {
        return Err(io::Error::other("no aligned memory for a direct write"));
    };
    buf[..tail.len()].copy_from_slice(tail);
    buf[tail.len()..tail.len() + bytes.len()].copy_from_slice(bytes);
    let mut written = 0;
    while written < len {
        let n = pwritev2(
            file,
            &[io::IoSlice::new(&buf[written..])],
            start + written as u64,
            ReadWriteFlags::DSYNC,
        )?;
        // A short direct write moves whole blocks (`len` is whole blocks too); anything else
        // would leave the next write unaligned.
        if n == 0 || !n.is_multiple_of(BLOCK) {
            return Err(io::Error::other(
                "a direct write to the journal stopped short",
            ));
        }
        written += n;
    }
    Ok(())
}

/// Never called: no handle for direct writes is ever opened here.
#[cfg(not(target_os = "linux"))]
fn write_direct(
    _file: &File,
    _scratch: &mut Vec<u8>,
    _tail: &[u8],
    _offset: u64,
    _bytes: &[u8],
) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether a direct write failed because direct writes are refused here, before anything was
/// written.
#[cfg(target_os = "linux")]
fn refused(e: &io::Error) -> bool {
    use rustix::io::Errno;
    Errno::from_io_error(e).is_some_and(|e| {
        matches!(
            e,
            Errno::INVAL | Errno::OPNOTSUPP | Errno::NOSYS | Errno::PERM
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
}

/// Through the page cache, then `fdatasync`.
fn write_buffered(file: &mut File, offset: u64, bytes: &[u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// `n` rounded up to a whole number of blocks.
fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// A handle to `path` for direct writes, if this platform and file system give one and the
/// segment is a whole number of blocks long (padding a write must never grow the file).
#[cfg(target_os = "linux")]
fn open_direct(path: &std::path::Path, capacity: u64) -> Option<File> {
    use rustix::fs::{open, Mode, OFlags};
    if !capacity.is_multiple_of(BLOCK as u64) {
        return None;
    }
    open(
        path,
        OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .map(File::from)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &std::path::Path, _capacity: u64) -> Option<File> {
    None
}
