//! Recognising the formats the scanner opens, and what every reader of them shares: reading
//! one entry under the file's unpacking budget, naming entries, and reporting keys in text
//! that has no line structure (a binary stream, a PDF page, XML reduced to its text).
//!
//! Formats are recognised by their first bytes, never by the file name alone, so a renamed
//! document is still opened; only email, which has no magic number, also trusts `.eml`.

use crate::{shown, Budget, Finding, NoteKind, ScanReport, Scanner, EMPTY_ZIP_MAGIC, ZIP_MAGIC};
use keyward_core::ApiKey;
use std::io::Read;

/// A format whose content is more than one stream of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// `.docx`, `.xlsx`, `.pptx`, `.odt`, `.zip`, `.jar`, …
    Zip,
    /// OLE compound file: legacy `.doc`, `.xls`, `.ppt`, Outlook `.msg`.
    Ole,
    Pdf,
    Gzip,
    Tar,
    /// One message (`.eml`).
    Email,
    /// Many messages, each after a `From ` line.
    Mbox,
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const GZIP_MAGIC: &[u8] = b"\x1F\x8B\x08";
/// Readers accept `%PDF-` anywhere in the first KiB (some writers put junk before it); away
/// from the start it counts only with the `%%EOF` marker in the last KiB, so a text file
/// that merely mentions `%PDF-` (a script testing for it) stays text.
const PDF_MAGIC: &[u8] = b"%PDF-";
const PDF_END: &[u8] = b"%%EOF";
const PDF_SNIFF_BYTES: usize = 1024;

impl Container {
    /// The container `bytes` are, if any. `name` is the file or entry name, used only for
    /// email.
    pub(crate) fn sniff(name: &str, bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(EMPTY_ZIP_MAGIC) {
            return Some(Self::Zip);
        }
        if bytes.starts_with(OLE_MAGIC) {
            return Some(Self::Ole);
        }
        if bytes.starts_with(GZIP_MAGIC) {
            return Some(Self::Gzip);
        }
        if is_pdf(bytes) {
            return Some(Self::Pdf);
        }
        if is_tar(bytes) {
            return Some(Self::Tar);
        }
        crate::email::sniff(name, bytes)
    }
}

fn is_pdf(bytes: &[u8]) -> bool {
    if bytes.starts_with(PDF_MAGIC) {
        return true;
    }
    let head = &bytes[..bytes.len().min(PDF_SNIFF_BYTES)];
    let tail = &bytes[bytes.len().saturating_sub(PDF_SNIFF_BYTES)..];
    memchr::memmem::find(head, PDF_MAGIC).is_some() && memchr::memmem::find(tail, PDF_END).is_some()
}

/// A POSIX (ustar) or GNU tar header: its magic is at offset 257 of the first block.
pub(crate) fn is_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar")
}

/// What came of reading one entry under the budget.
pub(crate) enum Unpacked {
    /// The entry's content, cut at the allowance if it was longer (with a note).
    Content(Vec<u8>),
    /// The file's budget was already spent: nothing was read.
    NoBudget,
}

impl Scanner {
    /// Dispatches to the reader of `container`; the depth limit has been checked.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open_container(
        &self,
        container: Container,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        // The parsers are third-party code fed hostile input: should one panic, the rest of
        // the scan goes on, and this file says it was not fully read. What was found before
        // stays found; the budget stays charged.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match container {
            Container::Zip => self.scan_zip(file, part, bytes, depth, budget, report),
            Container::Ole => self.scan_ole(file, part, bytes, depth, budget, report),
            Container::Pdf => self.scan_pdf(file, part, bytes, budget, report),
            Container::Gzip => self.scan_gzip(file, part, bytes, depth, budget, report),
            Container::Tar => self.scan_tar(file, part, bytes, depth, budget, report),
            Container::Email => self.scan_email(file, part, bytes, depth, budget, report),
            Container::Mbox => self.scan_mbox(file, part, bytes, depth, budget, report),
        }));
        if read.is_err() {
            report.note(
                &shown(file, part),
                NoteKind::Error,
                format!("the {container:?} reader failed on this content: not fully scanned"),
            );
        }
    }

    /// Bytes the file may still unpack.
    pub(crate) fn remaining(&self, budget: &Budget) -> u64 {
        self.limits
            .max_unpacked_bytes
            .saturating_sub(budget.unpacked)
    }

    /// Reads one entry from `reader`, at most one entry's limit and what is left of the
    /// file's budget, and charges it to the budget. An entry cut short, or that fails to
    /// read part-way (a truncated stream), gets a note naming `here` and is returned as far
    /// as it was read, so a key near its start is still found.
    pub(crate) fn unpack(
        &self,
        reader: impl Read,
        here: &str,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) -> Unpacked {
        let remaining = self.remaining(budget);
        if remaining == 0 {
            return Unpacked::NoBudget;
        }
        let allowance = remaining.min(self.limits.max_entry_bytes);
        let mut content = Vec::new();
        let read = reader
            .take(allowance.saturating_add(1))
            .read_to_end(&mut content);
        if let Err(e) = read {
            report.note(here, NoteKind::Error, format!("corrupt or truncated: {e}"));
        }
        if content.len() as u64 > allowance {
            content.truncate(usize::try_from(allowance).unwrap_or(usize::MAX));
            report.note(
                here,
                NoteKind::Error,
                self.cut_short(allowance < remaining, allowance),
            );
        }
        budget.unpacked += content.len() as u64;
        Unpacked::Content(content)
    }

    /// The part name of entry `name` inside `part` (`part!name`), with keys in `name`
    /// shown by their start.
    pub(crate) fn inner_name(&self, part: Option<&str>, name: &str) -> String {
        match part {
            Some(p) => format!("{p}!{}", self.redact_name(name)),
            None => self.redact_name(name),
        }
    }

    /// Records every key in `text` as a finding in `part` with no line or column: the
    /// text was extracted, so positions in it would point nowhere in the file.
    pub(crate) fn report_keys(
        &self,
        file: &str,
        part: Option<&str>,
        text: &[u8],
        report: &mut ScanReport,
    ) {
        for (_, key) in self.keys_in(text) {
            push_finding(report, file, part, None, key);
        }
    }
}

/// Records a key found in the content of `part` (at `line` and column, if known).
pub(crate) fn push_finding(
    report: &mut ScanReport,
    file: &str,
    part: Option<&str>,
    position: Option<(usize, usize)>,
    key: ApiKey,
) {
    report.findings.push(Finding {
        file: file.to_owned(),
        part: part.map(str::to_owned),
        line: position.map(|(line, _)| line),
        column: position.map(|(_, column)| column),
        in_name: false,
        commit: None,
        key,
    });
}

/// Keeps, of the findings from index `from` on, only the first of each key not yet in
/// `seen`: the same key read twice from one place (a message's text and HTML bodies, a
/// stream searched in two encodings) is one finding.
pub(crate) fn drop_repeats(report: &mut ScanReport, from: usize, seen: &mut Vec<ApiKey>) {
    let mut index = from;
    while index < report.findings.len() {
        let key = &report.findings[index].key;
        if seen.iter().any(|s| s.expose() == key.expose()) {
            report.findings.remove(index);
        } else {
            seen.push(key.clone());
            index += 1;
        }
    }
}

/// `file!part` for notes about an entry.
pub(crate) fn entry_place(file: &str, inner: &str) -> String {
    shown(file, Some(inner))
}
