//! `.gz`, `.tar` and `.tar.gz`/`.tgz` (rotated logs, backups), streamed under the same
//! budgets as zip. A gzip file is one file compressed (several members, as `cat a.gz b.gz`
//! makes, are read as one), scanned under the gzip file's own name, so a key in
//! `app.log.1.gz` is located at `app.log.1.gz:LINE:COLUMN`; a gzip whose content is a tar is
//! read as that tar, entry by entry, without unpacking it whole first. Everything pulled
//! through the decompressor, including the skipped remainder of an entry cut short, counts
//! against the file's budget, so neither a gzip bomb nor a tar entry claiming terabytes can
//! run on.

use crate::containers::{entry_place, is_tar, Unpacked};
use crate::{shown, Budget, NoteKind, ScanReport, Scanner};
use flate2::read::MultiGzDecoder;
use std::cell::Cell;
use std::io::{self, Cursor, Read};
use std::rc::Rc;

/// Enough of the decompressed start to recognise a tar header.
const TAR_SNIFF_BYTES: u64 = 512;

impl Scanner {
    pub(crate) fn scan_gzip(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let here = shown(file, part);
        let mut decoder = MultiGzDecoder::new(bytes);
        let mut head = Vec::new();
        if let Err(e) = (&mut decoder).take(TAR_SNIFF_BYTES).read_to_end(&mut head) {
            report.note(&here, NoteKind::Error, format!("corrupt gzip: {e}"));
            // What came out before the damage is still scanned.
            budget.unpacked += head.len() as u64;
            self.scan_blob(file, part, &head, depth + 1, budget, report);
            return;
        }
        let stream = Cursor::new(head).chain(decoder);
        if is_tar(stream.get_ref().0.get_ref()) {
            self.read_tar(file, part, stream, depth, budget, report);
            return;
        }
        match self.unpack(stream, &here, budget, report) {
            Unpacked::Content(content) => {
                self.scan_blob(file, part, &content, depth + 1, budget, report);
            }
            Unpacked::NoBudget => report.note(&here, NoteKind::Error, self.budget_spent()),
        }
    }

    pub(crate) fn scan_tar(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        self.read_tar(file, part, bytes, depth, budget, report);
    }

    /// Scans each regular file in the tar stream `reader`, in order.
    fn read_tar(
        &self,
        file: &str,
        part: Option<&str>,
        reader: impl Read,
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let here = shown(file, part);
        let meter = Meter::new(reader, self.remaining(budget));
        let (pulled, cap) = (meter.pulled.clone(), meter.cap.clone());
        let mut archive = tar::Archive::new(meter);
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => {
                report.note(&here, NoteKind::Error, format!("corrupt tar: {e}"));
                return;
            }
        };
        // Bytes pulled through so far that the budget has been charged for.
        let mut charged = 0;
        let mut seen_in_names = Vec::new();
        for (index, entry) in entries.enumerate() {
            budget.unpacked += pulled.get() - charged;
            charged = pulled.get();
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(_) if pulled.get() >= cap.get() => {
                    report.note(&here, NoteKind::Error, self.tar_cut(index));
                    break;
                }
                Err(e) => {
                    report.note(
                        &here,
                        NoteKind::Error,
                        format!("corrupt tar after {index} entries: {e}"),
                    );
                    break;
                }
            };
            if index >= self.limits.max_entries {
                report.note(
                    &here,
                    NoteKind::Error,
                    format!(
                        "more than {} entries: only the first {} were scanned",
                        self.limits.max_entries, self.limits.max_entries
                    ),
                );
                break;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let inner = self.inner_name(part, &name);
            self.name_findings(file, Some(&inner), &name, &mut seen_in_names, report);
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let place = entry_place(file, &inner);
            match self.unpack(&mut entry, &place, budget, report) {
                Unpacked::Content(content) => {
                    // `unpack` charged what it read; the meter counted the same bytes.
                    charged = pulled.get();
                    self.scan_blob(file, Some(&inner), &content, depth + 1, budget, report);
                }
                Unpacked::NoBudget => {
                    report.note(&here, NoteKind::Error, self.tar_cut(index));
                    break;
                }
            }
            // Skipping the rest of this entry and reading the next header may pull only
            // what the budget still allows.
            cap.set(pulled.get() + self.remaining(budget));
        }
        budget.unpacked += pulled.get() - charged;
    }

    /// The note for a compressed stream not opened because the file's budget was spent.
    fn budget_spent(&self) -> String {
        format!(
            "more than {} MiB unpacked from this file (a bomb?): not unpacked",
            self.limits.max_unpacked_bytes / (1024 * 1024)
        )
    }

    /// The note for a tar whose reading stopped at the file's budget.
    fn tar_cut(&self, index: usize) -> String {
        format!(
            "more than {} MiB unpacked from this file (a gzip bomb or a huge entry?): entries after the first {index} not scanned",
            self.limits.max_unpacked_bytes / (1024 * 1024)
        )
    }
}

/// Counts the bytes pulled through `inner` and refuses to pull more than `cap`: the shared
/// counters let the tar loop see and move them while the archive owns the reader.
struct Meter<R> {
    inner: R,
    pulled: Rc<Cell<u64>>,
    cap: Rc<Cell<u64>>,
}

impl<R> Meter<R> {
    fn new(inner: R, cap: u64) -> Self {
        Self {
            inner,
            pulled: Rc::new(Cell::new(0)),
            cap: Rc::new(Cell::new(cap)),
        }
    }
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.cap.get().saturating_sub(self.pulled.get());
        if left == 0 {
            return Err(io::Error::other("the unpacking budget is spent"));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.pulled.set(self.pulled.get() + n as u64);
        Ok(n)
    }
}
