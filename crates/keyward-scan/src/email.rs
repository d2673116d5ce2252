//! Email: one message (`.eml`) or a mailbox of them (mbox). MIME is decoded (`mail-parser`):
//! quoted-printable (`=3D`, soft line breaks), base64, character sets, and encoded words in
//! headers. The headers, each text body and each attachment are scanned as entries of the
//! message, an attachment as a file of its own (a `.docx` attached is opened as a docx, an
//! attached message read as a message), located as `mail.eml!report.docx!word/document.xml`.
//! The raw message is searched too, so a key the decoding somehow lost is still reported,
//! at its line in the file.

use crate::containers::{drop_repeats, entry_place, push_finding, Container, Unpacked};
use crate::{shown, Budget, LineCounter, NoteKind, ScanReport, Scanner};
use keyward_core::ApiKey;
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use std::io::Cursor;

/// Header names whose presence in a file's first lines says "this is a message".
const MAIL_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "received",
    "return-path",
    "delivered-to",
    "reply-to",
    "content-type",
    "x-mailer",
];

/// How much of a file's start is read for its header block.
const HEADER_SNIFF_BYTES: usize = 16 * 1024;

/// `Email` for a `.eml` or a file that starts with a mail header block, `Mbox` for one that
/// starts with an mbox `From ` line followed by one.
pub(crate) fn sniff(name: &str, bytes: &[u8]) -> Option<Container> {
    let head = &bytes[..bytes.len().min(HEADER_SNIFF_BYTES)];
    if let Some(rest) = head.strip_prefix(b"From ") {
        let after_line = memchr::memchr(b'\n', rest).map(|nl| &rest[nl + 1..])?;
        return looks_like_headers(after_line, 1).then_some(Container::Mbox);
    }
    let eml = name.to_ascii_lowercase().ends_with(".eml");
    (eml || looks_like_headers(head, 2)).then_some(Container::Email)
}

/// Whether `head` opens with header lines (`Name: value`, continued by indented lines) of
/// which at least `known` distinct ones are common mail headers.
fn looks_like_headers(head: &[u8], known: usize) -> bool {
    let mut found: Vec<&str> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return false;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if let Some(header) = MAIL_HEADERS.iter().find(|h| **h == name) {
            if !found.contains(header) {
                found.push(header);
            }
        }
    }
    found.len() >= known
}

impl Scanner {
    pub(crate) fn scan_email(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let mut seen = Vec::new();
        match MessageParser::default().parse(bytes) {
            Some(message) => {
                self.scan_message(file, part, &message, depth, budget, report, &mut seen)
            }
            None => report.note(
                &shown(file, part),
                NoteKind::Error,
                "not a readable message (searched as plain text)",
            ),
        }
        self.raw_search(file, part, bytes, &seen, report);
    }

    pub(crate) fn scan_mbox(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let here = shown(file, part);
        let messages = mail_parser::mailbox::mbox::MessageIterator::new(Cursor::new(bytes));
        for (index, message) in messages.enumerate() {
            if index >= self.limits.max_entries {
                report.note(
                    &here,
                    NoteKind::Error,
                    format!(
                        "more than {} messages: only the first {} were scanned",
                        self.limits.max_entries, self.limits.max_entries
                    ),
                );
                break;
            }
            let inner = self.inner_name(part, &format!("message {}", index + 1));
            match message {
                Ok(message) => self.scan_email(
                    file,
                    Some(&inner),
                    message.contents(),
                    depth + 1,
                    budget,
                    report,
                ),
                Err(e) => {
                    report.note(&here, NoteKind::Error, format!("unreadable mailbox: {e}"));
                    break;
                }
            }
        }
    }

    /// Scans each MIME part of `message`, reporting each key once per message.
    #[allow(clippy::too_many_arguments)]
    fn scan_message(
        &self,
        file: &str,
        part: Option<&str>,
        message: &Message<'_>,
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
        seen: &mut Vec<ApiKey>,
    ) {
        let from = report.findings.len();
        let mut headers = Vec::new();
        for mime in &message.parts {
            header_text(message.raw_message(), mime, &mut headers);
        }
        let inner = self.inner_name(part, "headers");
        self.report_keys(file, Some(&inner), &headers, report);
        let (mut text_bodies, mut html_bodies) = (0, 0);
        for (index, mime) in message.parts.iter().enumerate() {
            let name = match &mime.body {
                PartType::Multipart(_) => continue,
                PartType::Text(_) if mime.attachment_name().is_none() => {
                    text_bodies += 1;
                    numbered("body", ".txt", text_bodies)
                }
                PartType::Html(_) if mime.attachment_name().is_none() => {
                    html_bodies += 1;
                    numbered("body", ".html", html_bodies)
                }
                _ => mime
                    .attachment_name()
                    .map_or_else(|| format!("part {index}"), str::to_owned),
            };
            let inner = self.inner_name(part, &name);
            // `seen` is settled once all parts are read (a name finding is kept as any other).
            self.name_findings(file, Some(&inner), &name, &mut Vec::new(), report);
            if let PartType::Message(attached) = &mime.body {
                if depth + 1 >= self.limits.max_depth {
                    report.note(
                        &entry_place(file, &inner),
                        NoteKind::Error,
                        format!(
                            "message nested more than {} deep: not opened",
                            self.limits.max_depth
                        ),
                    );
                } else {
                    self.scan_message(
                        file,
                        Some(&inner),
                        attached,
                        depth + 1,
                        budget,
                        report,
                        seen,
                    );
                }
                continue;
            }
            let place = entry_place(file, &inner);
            match self.unpack(mime.contents(), &place, budget, report) {
                Unpacked::Content(content) => {
                    self.scan_blob(file, Some(&inner), &content, depth + 1, budget, report);
                }
                Unpacked::NoBudget => {
                    report.note(
                        &place,
                        NoteKind::Error,
                        "file's unpacking budget spent: not scanned",
                    );
                }
            }
        }
        drop_repeats(report, from, seen);
    }

    /// Reports the keys in the raw `bytes` of a message that its decoding did not yield
    /// (those in `seen`), located by line and column in the raw text.
    fn raw_search(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        seen: &[ApiKey],
        report: &mut ScanReport,
    ) {
        let mut lines = LineCounter::default();
        for (offset, key) in self.keys_in(bytes) {
            if seen.iter().any(|s| s.expose() == key.expose()) {
                continue;
            }
            let position = lines.position(bytes, offset);
            push_finding(report, file, part, Some(position), key);
        }
    }
}

/// `body.txt`, then `body 2.txt`, …
fn numbered(stem: &str, extension: &str, n: usize) -> String {
    if n == 1 {
        format!("{stem}{extension}")
    } else {
        format!("{stem} {n}{extension}")
    }
}

/// Appends the headers of one MIME part, one per line: as written (for keys in plain
/// header text) and decoded (for keys inside encoded words and parameters).
fn header_text(raw: &[u8], mime: &mail_parser::MessagePart<'_>, out: &mut Vec<u8>) {
    for header in mime.headers() {
        let start = header.offset_field as usize;
        let end = header.offset_end as usize;
        if let Some(written) = raw.get(start..end) {
            out.extend_from_slice(written);
            out.push(b'\n');
        }
        let mut push = |text: &str| {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        };
        match &header.value {
            HeaderValue::Text(text) => push(text),
            HeaderValue::TextList(list) => list.iter().for_each(|t| push(t)),
            HeaderValue::Address(address) => {
                for addr in address.iter() {
                    addr.name.as_deref().into_iter().for_each(&mut push);
                    addr.address.as_deref().into_iter().for_each(&mut push);
                }
            }
            HeaderValue::ContentType(content_type) => {
                for attribute in content_type.attributes().unwrap_or_default() {
                    push(&attribute.value);
                }
            }
            HeaderValue::DateTime(_) | HeaderValue::Received(_) | HeaderValue::Empty => {}
        }
    }
}
