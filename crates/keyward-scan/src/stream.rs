//! Text too large to hold in memory (a 200 MB log is routine): scanned as it is read, in
//! windows of [`WINDOW`] new bytes that each begin with the last [`OVERLAP`] bytes of the one
//! before, so a key across a window boundary is whole in the next window. Memory stays at
//! one window, whatever the size of the file.
//!
//! A key ending inside the overlap was wholly in the previous window and found there; only
//! keys ending after it are taken from a window, so none is reported twice. UTF-16 is
//! transcoded as it streams; the overlap is counted in transcoded bytes.

use crate::{decode, Finding, LineCounter, NoteKind, ScanReport, Scanner};
use encoding_rs::Encoding;
use std::io::Read;

/// New bytes read per window.
pub(crate) const WINDOW: usize = 8 * 1024 * 1024;
/// Bytes carried into the next window: more than the longest key written with every
/// character escaped (256 characters × 6 bytes for `\u0062`) and a soft line break or two.
pub(crate) const OVERLAP: usize = 4096;

impl Scanner {
    /// Scans `head` and then the rest of `reader` as text in `encoding` (`None`: ASCII
    /// compatible, scanned as it is), in windows. `head` is what was already read, after any
    /// byte-order mark. A read error is a note; what was found before it is kept.
    pub(crate) fn scan_text_stream(
        &self,
        name: &str,
        head: &[u8],
        reader: impl Read,
        encoding: Option<&'static Encoding>,
        report: &mut ScanReport,
    ) {
        report.files_scanned += 1;
        let mut reader = std::io::Cursor::new(head).chain(reader);
        let mut decoder = encoding.map(Encoding::new_decoder_without_bom_handling);
        let mut raw = Vec::new();
        let mut window: Vec<u8> = Vec::with_capacity(WINDOW + OVERLAP);
        // How many bytes at the start of `window` the previous window scanned already.
        let mut carried = 0;
        // Lines and column at the start of `window`.
        let mut lines = LineCounter::default();
        loop {
            let mut chunk = (&mut reader).take(WINDOW as u64);
            let read = match decoder.as_mut() {
                Some(decoder) => {
                    raw.clear();
                    let read = chunk.read_to_end(&mut raw);
                    let last = !matches!(read, Ok(n) if n == WINDOW);
                    decode::transcode_into(decoder, &raw, last, &mut window);
                    read
                }
                None => chunk.read_to_end(&mut window),
            };
            let last = !matches!(read, Ok(n) if n == WINDOW);
            if let Ok(n) = read {
                report.bytes_scanned += n as u64;
            }
            let mut positions = lines.clone();
            for found in self.key_spans(&window) {
                if found.end <= carried {
                    continue;
                }
                let (line, column) = positions.position(&window, found.start);
                report.findings.push(Finding {
                    file: name.to_owned(),
                    part: None,
                    line: Some(line),
                    column: Some(column),
                    in_name: false,
                    commit: None,
                    key: found.key,
                });
            }
            if let Err(e) = read {
                report.note(name, NoteKind::Error, format!("cannot read: {e}"));
                return;
            }
            if last {
                return;
            }
            let keep_from = window.len().saturating_sub(OVERLAP);
            lines = lines.after(&window[..keep_from]);
            window.drain(..keep_from);
            carried = window.len();
        }
    }
}
