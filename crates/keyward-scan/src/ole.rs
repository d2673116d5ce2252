//! Legacy Office (`.doc`, `.xls`, `.ppt`) and Outlook `.msg`: OLE compound files. Their text
//! (body, cells, slides, comments, notes, document properties) is stored in streams, each
//! string contiguous, either as single bytes (ASCII or a Windows code page) or as UTF-16LE.
//! Every stream is searched in both encodings, the checksum deciding what is a key, rather
//! than parsed record by record: the same search covers Word's piece table, Excel's shared
//! strings, PowerPoint's text and comment atoms and whatever a later version adds. A stream
//! that is itself a document (an embedded `.docx`, a `.msg` attachment) is opened as one.

use crate::containers::{drop_repeats, entry_place, Container, Unpacked};
use crate::{shown, Budget, NoteKind, ScanReport, Scanner};
use std::io::Cursor;
use std::path::PathBuf;

impl Scanner {
    pub(crate) fn scan_ole(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let here = shown(file, part);
        let mut compound = match cfb::CompoundFile::open(Cursor::new(bytes)) {
            Ok(compound) => compound,
            Err(e) => {
                // A damaged file still holds its strings: search it whole.
                report.note(
                    &here,
                    NoteKind::Error,
                    format!("corrupt compound file (searched as raw bytes): {e}"),
                );
                self.search_binary(file, part, bytes, &mut Vec::new(), report);
                return;
            }
        };
        let streams: Vec<PathBuf> = compound
            .walk()
            .filter(|entry| entry.is_stream())
            .map(|entry| entry.path().to_path_buf())
            .collect();
        if streams.len() > self.limits.max_entries {
            report.note(
                &here,
                NoteKind::Error,
                format!(
                    "{} streams: only the first {} were scanned",
                    streams.len(),
                    self.limits.max_entries
                ),
            );
        }
        let mut seen_in_names = Vec::new();
        let mut skipped = Vec::new();
        for path in streams.iter().take(self.limits.max_entries) {
            let name = path.to_string_lossy();
            let name = name.trim_start_matches(['/', '\\']);
            let inner = self.inner_name(part, name);
            self.name_findings(file, Some(&inner), name, &mut seen_in_names, report);
            let place = entry_place(file, &inner);
            let stream = match compound.open_stream(path) {
                Ok(stream) => stream,
                Err(e) => {
                    report.note(&place, NoteKind::Error, format!("unreadable stream: {e}"));
                    continue;
                }
            };
            match self.unpack(stream, &place, budget, report) {
                Unpacked::NoBudget => skipped.push(inner),
                Unpacked::Content(content) => {
                    if Container::sniff(name, &content).is_some() {
                        self.scan_blob(file, Some(&inner), &content, depth + 1, budget, report);
                    } else {
                        self.search_binary(file, Some(&inner), &content, &mut Vec::new(), report);
                    }
                }
            }
        }
        if !skipped.is_empty() {
            report.note(&here, NoteKind::Error, self.not_unpacked(&skipped));
        }
    }

    /// Reports the keys in binary `bytes` stored as single-byte text or as UTF-16LE (at
    /// either byte alignment), each key once per part.
    pub(crate) fn search_binary(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        seen: &mut Vec<keyward_core::ApiKey>,
        report: &mut ScanReport,
    ) {
        let from = report.findings.len();
        self.report_keys(file, part, bytes, report);
        for alignment in 0..2 {
            let text = utf16le_ascii(bytes.get(alignment..).unwrap_or_default());
            self.report_keys(file, part, &text, report);
        }
        drop_repeats(report, from, seen);
    }
}

/// The ASCII characters of UTF-16LE text, every other code unit becoming a line break: key
/// characters are ASCII, so this finds every key the full decoding would, at half the size.
fn utf16le_ascii(bytes: &[u8]) -> Vec<u8> {
    bytes
        .chunks_exact(2)
        .map(|unit| match unit {
            [low @ 0x20..=0x7E, 0] => *low,
            _ => b'\n',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16le_ascii_keeps_ascii_and_breaks_at_the_rest() {
        let bytes: Vec<u8> = "ab\u{e9}c"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(utf16le_ascii(&bytes), b"ab\nc");
        assert_eq!(utf16le_ascii(b"a\0b"), b"a");
    }
}
