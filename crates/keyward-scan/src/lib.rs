//! `keyward scan`'s engine: finds keyward keys in files, folders, standard input and inside
//! Office documents and zip archives, keeping only matches whose checksum is valid.
//!
//! - **Matching**: the words the published pattern
//!   [`KEY_REGEX`](keyward_core::key_format::KEY_REGEX) matches, keys glued to other
//!   letters or digits (`%3D<key>`, `\n<key>`, `x<key>`), and keys with escaped characters
//!   (`bos%5F…`, `bos\u005f…`, split by a soft line break) are candidates; only those whose
//!   CRC-32 checksum holds are kept, so look-alike strings are not reported and no server is
//!   asked.
//! - **Text**: UTF-8 and other ASCII-compatible encodings are scanned as they are; UTF-16
//!   (with or without a byte-order mark) is transcoded first; content with NUL bytes is
//!   binary and not read, with a note. Text over the size limit is streamed in overlapping
//!   windows (`stream`), so memory stays bounded and a key across a boundary is found once.
//! - **Containers**, recognised by their first bytes (`containers`): anything that starts
//!   like a zip (`.docx`, `.xlsx`, `.pptx`, `.odt`, `.ods`, `.zip`, `.jar`, …), whose XML parts
//!   are reduced to their text, joining Word's text runs so a key split across them is still
//!   found; legacy Office `.doc`/`.xls`/`.ppt` and `.msg` (`ole`); PDF (`pdf`); email and mbox
//!   (`email`); `.gz`, `.tar`, `.tar.gz` (`compressed`). Nesting depth, each entry's size and
//!   the total unpacked per file are bounded (bombs): an entry cut short is scanned as far as
//!   it was unpacked, and once a file's budget is spent the note names what was left
//!   unscanned. A corrupt container is a note.
//! - **Names**: a key in a file, folder or entry name is a finding (see `names`).
//! - **Git history** (`git`): every line a commit added, through `git log -p`, with the
//!   commit on each finding; `.git` folders met while walking are listed, not looked into.
//! - **What was not read** is a [`Note`]; the caller decides whether that fails a gate
//!   ([`ScanReport::has_unread`]).
//!
//! **Invariant:** nothing this crate returns prints a whole key: a [`Finding`] shows only the
//! key's [`Finding::start`], and every file, folder and entry name in findings and notes has
//! its keys replaced by their start; the plaintext stays wrapped in an [`ApiKey`] (whose
//! `Debug` redacts it) for the caller that reports it for revocation.

mod compressed;
mod containers;
mod decode;
mod email;
pub mod fixtures;
mod git;
pub mod git_fixture;
pub use git::GitError;
mod names;
mod ole;
mod pdf;
mod stream;
mod xml;

use containers::{Container, Unpacked};

use keyward_core::redact::{valid_keys, FoundKey};
use keyward_core::ApiKey;
use std::fmt;
use std::io::{Cursor, Read};
use std::path::Path;

/// Bounds on what one scan reads and unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Files larger than this are streamed if they are text, and otherwise not read (with a
    /// note).
    pub max_file_bytes: u64,
    /// How many archives deep to open (a `.docx` is depth 1; a `.docx` in a `.zip` is 2).
    pub max_depth: usize,
    /// Most bytes unpacked from one top-level file, across all its nested archives.
    pub max_unpacked_bytes: u64,
    /// Most bytes unpacked from one archive entry, so that one bomb does not spend the whole
    /// file's budget before the entries after it are read.
    pub max_entry_bytes: u64,
    /// Most entries looked at in one archive.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 100 * 1024 * 1024,
            max_depth: 4,
            max_unpacked_bytes: 256 * 1024 * 1024,
            max_entry_bytes: 64 * 1024 * 1024,
            max_entries: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the published key pattern does not compile: {0}")]
    Pattern(String),
}

/// A valid key found somewhere. `Debug` and [`fmt::Display`] never show the whole key.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The file as it was named on the command line or found in a folder (`-` for stdin),
    /// with any key in the name shown as its start.
    pub file: String,
    /// Inside an archive: the part, e.g. `word/document.xml` or `inner.zip!notes.txt`.
    pub part: Option<String>,
    /// The key is in the name of `file` (or of `part`), not in its content.
    pub in_name: bool,
    /// 1-based line and column (in characters) for plain text; `None` for XML parts, whose
    /// text was extracted.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key. Only [`ApiKey::start`] and [`ApiKey::prefix`] may be shown.
    pub key: ApiKey,
    /// In git history (`keyward scan --git`): the commit that added the key, in full.
    pub commit: Option<String>,
}

impl Finding {
    /// The key's visible start, e.g. `bos_5Qm2`: the same text the server stores and shows.
    pub fn start(&self) -> String {
        self.key.start()
    }

    /// The file, and in git history the commit as git names a file in it:
    /// `3f2a1b9c0d1e:config/app.env`.
    pub fn source(&self) -> String {
        match &self.commit {
            Some(commit) => format!("{}:{}", short_commit(commit), self.file),
            None => self.file.clone(),
        }
    }

    /// Where in `file` the key is: `12:5`, `word/document.xml`, `a.zip!b.txt:3:1`, or
    /// `(name)` and `a.zip!b.txt (name)` for a key in a name.
    pub fn location(&self) -> String {
        if self.in_name {
            return match &self.part {
                Some(part) => format!("{part} (name)"),
                None => "(name)".to_owned(),
            };
        }
        let position = match (self.line, self.column) {
            (Some(l), Some(c)) => Some(format!("{l}:{c}")),
            _ => None,
        };
        match (&self.part, position) {
            (Some(part), Some(pos)) => format!("{part}:{pos}"),
            (Some(part), None) => part.clone(),
            (None, Some(pos)) => pos,
            (None, None) => String::new(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}…", self.source(), self.location(), self.start())
    }
}

/// Whether a note means the scan was incomplete (an error) or only that something was
/// passed over on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Binary, oversized, or not a regular file: skipped on purpose.
    Skipped,
    /// Unreadable, corrupt, or cut short by a limit: keys there may have been missed.
    Error,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub path: String,
    pub kind: NoteKind,
    pub message: String,
}

/// Everything one scan found and noticed.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    pub notes: Vec<Note>,
    /// Top-level files read (not counting archive entries).
    pub files_scanned: u64,
    /// Bytes read from disk or stdin (or of `git log` output).
    pub bytes_scanned: u64,
    /// Commits read from git history.
    pub commits_scanned: u64,
    /// `.git` folders met in folders and not looked into (their history is scanned by
    /// `keyward scan --git`).
    pub git_folders: Vec<String>,
}

impl ScanReport {
    pub fn has_errors(&self) -> bool {
        self.notes.iter().any(|n| n.kind == NoteKind::Error)
    }

    /// Whether something was not read, or not wholly: an error, or content passed over (a
    /// binary, something that is not a regular file, an archive too large to open).
    pub fn has_unread(&self) -> bool {
        !self.notes.is_empty()
    }

    /// The paths not read, or not wholly, each once, in the order first noted.
    pub fn unread_paths(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.notes
            .iter()
            .map(|n| n.path.as_str())
            .filter(|path| seen.insert(*path))
            .collect()
    }

    fn note(&mut self, path: &str, kind: NoteKind, message: impl Into<String>) {
        self.notes.push(Note {
            path: path.to_owned(),
            kind,
            message: message.into(),
        });
    }
}

/// Finds keys. Cheap to share: no state but the limits.
pub struct Scanner {
    limits: Limits,
}

/// Per top-level file: how much has been unpacked so far.
struct Budget {
    unpacked: u64,
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const EMPTY_ZIP_MAGIC: &[u8] = b"PK\x05\x06";

impl Scanner {
    pub fn new(limits: Limits) -> Result<Self, ScanError> {
        Ok(Self { limits })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Every valid key in `text` with its byte offset. The building block of everything
    /// else, exposed for tests and benchmarks.
    ///
    /// Byte-oriented, so it runs over any ASCII-compatible text without decoding it first:
    /// every word the published pattern matches whose checksum holds, a key glued to other
    /// letters or digits (`api_key%3D<key>`, `\n<key>`, `token<key>`, `<key>abc`), found by
    /// its checksum, which the pattern's word boundaries miss, and a key with its own
    /// characters escaped (`bos%5F…`, `bos\u005f…`) or split by a quoted-printable soft line
    /// break ([`keyward_core::redact::valid_keys`]).
    pub fn keys_in(&self, text: &[u8]) -> Vec<(usize, ApiKey)> {
        valid_keys(text)
            .into_iter()
            .map(|found| (found.start, found.key))
            .collect()
    }

    /// [`Scanner::keys_in`] with where each key ends: an escaped key is longer than the key.
    pub fn key_spans(&self, text: &[u8]) -> Vec<FoundKey> {
        valid_keys(text)
    }

    /// Scans a file or, recursively, a folder (symbolic links inside folders and `.git`
    /// folders are not followed).
    pub fn scan_path(&self, path: &Path, report: &mut ScanReport) {
        let raw = path.display().to_string();
        let shown = self.redact_name(&raw);
        let exists = std::fs::symlink_metadata(path).is_ok();
        if exists {
            self.name_findings(&shown, None, &raw, &mut Vec::new(), report);
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => self.scan_dir(path, report),
            Ok(meta) if meta.is_file() => self.scan_file(path, meta.len(), report),
            Ok(_) => report.note(&shown, NoteKind::Skipped, "not a regular file"),
            Err(e) => report.note(&shown, NoteKind::Error, format!("cannot read: {e}")),
        }
    }

    fn scan_dir(&self, dir: &Path, report: &mut ScanReport) {
        let shown = self.redact_name(&dir.display().to_string());
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                report.note(&shown, NoteKind::Error, format!("cannot list: {e}"));
                return;
            }
        };
        let mut children = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => children.push(entry),
                Err(e) => report.note(&shown, NoteKind::Error, format!("cannot list: {e}")),
            }
        }
        children.sort_by_key(|e| e.file_name());
        for entry in children {
            let path = entry.path();
            let shown = self.redact_name(&path.display().to_string());
            // The folder's own name was looked at by whoever listed it; only this entry's
            // name is new here.
            let name = entry.file_name();
            self.name_findings(
                &shown,
                None,
                &name.to_string_lossy(),
                &mut Vec::new(),
                report,
            );
            match entry.file_type() {
                Ok(t) if t.is_symlink() => {}
                Ok(t) if t.is_dir() => {
                    if entry.file_name() == ".git" {
                        // History is for `keyward scan --git`; say so rather than pass over it.
                        report.git_folders.push(shown);
                    } else {
                        self.scan_dir(&path, report);
                    }
                }
                Ok(t) if t.is_file() => match entry.metadata() {
                    Ok(meta) => self.scan_file(&path, meta.len(), report),
                    Err(e) => report.note(&shown, NoteKind::Error, format!("cannot read: {e}")),
                },
                Ok(_) => {}
                Err(e) => report.note(&shown, NoteKind::Error, format!("cannot read: {e}")),
            }
        }
    }

    fn scan_file(&self, path: &Path, len: u64, report: &mut ScanReport) {
        let shown = self.redact_name(&path.display().to_string());
        if len > self.limits.max_file_bytes {
            match std::fs::File::open(path) {
                Ok(file) => self.scan_large(&shown, file, report),
                Err(e) => report.note(&shown, NoteKind::Error, format!("cannot read: {e}")),
            }
            return;
        }
        match std::fs::read(path) {
            Ok(bytes) => self.scan_bytes(&shown, &bytes, report),
            Err(e) => report.note(&shown, NoteKind::Error, format!("cannot read: {e}")),
        }
    }

    /// Reads `reader` to its end and scans it as `name`: whole, as a file, up to the file
    /// size limit; streamed as text beyond it.
    pub fn scan_reader(&self, name: &str, mut reader: impl Read, report: &mut ScanReport) {
        let name = &self.redact_name(name);
        let mut bytes = Vec::new();
        let limit = self.limits.max_file_bytes;
        match (&mut reader)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
        {
            Ok(_) if bytes.len() as u64 > limit => {
                self.scan_large(name, Cursor::new(bytes).chain(reader), report)
            }
            Ok(_) => self.scan_bytes(name, &bytes, report),
            Err(e) => report.note(name, NoteKind::Error, format!("cannot read: {e}")),
        }
    }

    /// Content over the file size limit: streamed if it is text (see `stream`); anything
    /// else (an archive, a binary) is not read, with a note.
    fn scan_large(&self, name: &str, mut reader: impl Read, report: &mut ScanReport) {
        let mut head = Vec::new();
        if let Err(e) = (&mut reader)
            .take(decode::SNIFF_BYTES as u64)
            .read_to_end(&mut head)
        {
            report.note(name, NoteKind::Error, format!("cannot read: {e}"));
            return;
        }
        // Messages are text: a mailbox that large is still read, line by line.
        let container = Container::sniff(name, &head)
            .is_some_and(|c| !matches!(c, Container::Email | Container::Mbox));
        match decode::stream_encoding(&head).filter(|_| !container) {
            Some((encoding, bom_len)) => {
                report.bytes_scanned += bom_len as u64;
                self.scan_text_stream(name, &head[bom_len..], reader, encoding, report);
            }
            None => report.note(
                name,
                NoteKind::Skipped,
                format!(
                    "larger than {} MiB and not plain text: not read",
                    self.limits.max_file_bytes / (1024 * 1024)
                ),
            ),
        }
    }

    /// Scans the whole content of one file named `name` (shown with any key in it as its
    /// start; a key in the name itself is found by [`Scanner::scan_path`]).
    pub fn scan_bytes(&self, name: &str, bytes: &[u8], report: &mut ScanReport) {
        report.files_scanned += 1;
        report.bytes_scanned += bytes.len() as u64;
        let mut budget = Budget { unpacked: 0 };
        let name = self.redact_name(name);
        self.scan_blob(&name, None, bytes, 0, &mut budget, report);
    }

    fn scan_blob(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let name = part.map_or(file, |p| p.rsplit('!').next().unwrap_or(p));
        if let Some(container) = Container::sniff(name, bytes) {
            if depth >= self.limits.max_depth {
                report.note(
                    &shown(file, part),
                    NoteKind::Error,
                    format!(
                        "archive nested more than {} deep: not opened",
                        self.limits.max_depth
                    ),
                );
            } else {
                self.open_container(container, file, part, bytes, depth, budget, report);
            }
            return;
        }
        let Some(text) = decode::text_bytes(bytes) else {
            // Images and fonts inside documents are expected; only say so for files.
            if part.is_none() {
                report.note(file, NoteKind::Skipped, "binary");
            }
            return;
        };
        if part.is_some_and(is_xml_part) {
            self.report_keys(file, part, &xml::extract_text(&text), report);
            return;
        }
        let mut lines = LineCounter::default();
        for (offset, key) in self.keys_in(&text) {
            let (line, column) = lines.position(&text, offset);
            report.findings.push(Finding {
                file: file.to_owned(),
                part: part.map(str::to_owned),
                line: Some(line),
                column: Some(column),
                in_name: false,
                commit: None,
                key,
            });
        }
    }

    fn scan_zip(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        depth: usize,
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let here = shown(file, part);
        let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
            Ok(archive) => archive,
            Err(e) => {
                report.note(&here, NoteKind::Error, format!("corrupt archive: {e}"));
                return;
            }
        };
        if archive.len() > self.limits.max_entries {
            report.note(
                &here,
                NoteKind::Error,
                format!(
                    "{} entries: only the first {} were scanned",
                    archive.len(),
                    self.limits.max_entries
                ),
            );
        }
        // A key in a folder's name is in every entry under it: one finding.
        let mut seen = Vec::new();
        // Entries left unread once the file's budget is spent, named in one note.
        let mut skipped: Vec<String> = Vec::new();
        for index in 0..archive.len().min(self.limits.max_entries) {
            let name = match archive.name_for_index(index) {
                Some(Ok(name)) => name.into_owned(),
                _ => format!("entry {index}"),
            };
            let inner = match part {
                Some(p) => format!("{p}!{}", self.redact_name(&name)),
                None => self.redact_name(&name),
            };
            self.name_findings(file, Some(&inner), &name, &mut seen, report);
            let remaining = self
                .limits
                .max_unpacked_bytes
                .saturating_sub(budget.unpacked);
            if remaining == 0 {
                if !name.ends_with('/') {
                    skipped.push(inner);
                }
                continue;
            }
            let mut entry = match archive.by_index(index) {
                Ok(entry) => entry,
                Err(e) => {
                    report.note(
                        &here,
                        NoteKind::Error,
                        format!("entry {index} unreadable: {e}"),
                    );
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            // What was unpacked is scanned: a key near the start of a bomb is still found.
            let place = shown(file, Some(&inner));
            let Unpacked::Content(content) = self.unpack(&mut entry, &place, budget, report) else {
                skipped.push(inner);
                continue;
            };
            drop(entry);
            self.scan_blob(file, Some(&inner), &content, depth + 1, budget, report);
        }
        if !skipped.is_empty() {
            report.note(&here, NoteKind::Error, self.not_unpacked(&skipped));
        }
    }

    /// Why an entry was scanned only in part.
    fn cut_short(&self, by_entry_limit: bool, scanned: u64) -> String {
        const MIB: u64 = 1024 * 1024;
        if by_entry_limit {
            format!(
                "unpacks to more than {} MiB, the limit for one entry (a zip bomb?): only its first {} MiB were scanned",
                self.limits.max_entry_bytes / MIB,
                scanned / MIB
            )
        } else {
            format!(
                "unpacking stopped: more than {} MiB unpacked from this file (a zip bomb?); only the first {scanned} bytes of this entry were scanned",
                self.limits.max_unpacked_bytes / MIB
            )
        }
    }

    /// The note naming the entries left unread once the file's budget was spent.
    fn not_unpacked(&self, skipped: &[String]) -> String {
        const LISTED: usize = 20;
        let mut names = skipped
            .iter()
            .take(LISTED)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if skipped.len() > LISTED {
            names.push_str(&format!(" and {} more", skipped.len() - LISTED));
        }
        format!(
            "more than {} MiB unpacked from this file (a zip bomb?): {} entries not scanned: {names}",
            self.limits.max_unpacked_bytes / (1024 * 1024),
            skipped.len()
        )
    }
}

/// A commit's first 12 hexadecimal digits, as findings and notes show it.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `file` or `file!part`, for notes.
fn shown(file: &str, part: Option<&str>) -> String {
    match part {
        Some(p) => format!("{file}!{p}"),
        None => file.to_owned(),
    }
}

/// Parts whose text is extracted as XML rather than scanned line by line.
fn is_xml_part(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    [".xml", ".rels", ".vml"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Turns ascending byte offsets into 1-based line and character column, counting each
/// newline once. For a window of a stream, it starts where the text before it left off.
#[derive(Default, Clone)]
struct LineCounter {
    offset: usize,
    line: usize,
    line_start: usize,
    /// Characters of the first line that came before the text (in earlier windows).
    carried_column: usize,
}

impl LineCounter {
    fn position(&mut self, text: &[u8], offset: usize) -> (usize, usize) {
        for nl in memchr::memchr_iter(b'\n', &text[self.offset..offset]) {
            self.line += 1;
            self.line_start = self.offset + nl + 1;
            self.carried_column = 0;
        }
        self.offset = offset;
        let column = self.carried_column + characters(&text[self.line_start..offset]);
        (self.line + 1, column + 1)
    }

    /// The counter for the text that follows `consumed` (which this counter's text starts
    /// with).
    fn after(&self, consumed: &[u8]) -> Self {
        let mut next = self.clone();
        next.position(consumed, consumed.len());
        Self {
            offset: 0,
            line: next.line,
            line_start: 0,
            carried_column: next.carried_column + characters(&consumed[next.line_start..]),
        }
    }
}

/// UTF-8 characters in `bytes` (continuation bytes are not counted).
fn characters(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_formats;
