//! Git history (`keyward scan --git [RANGE]`): every line added by every commit, so a key
//! committed and deleted later is still found, with the commit, path and line that added it,
//! the way gitleaks and trufflehog report.
//!
//! `git` itself does the walking: `git log -p --unified=0` streams each commit's diff, and
//! only the added (`+`) lines are scanned, with the new file's line numbers from the hunk
//! headers. A file git calls binary (a `.docx`, an image) is read whole from the object
//! store (`git cat-file blob`, at most the file size limit) and scanned as a file is, so a
//! document committed with a key in it is opened too. Memory is bounded: diff lines are read
//! in pieces of at most [`PIECE`] bytes (a longer line is scanned in overlapping pieces),
//! and nothing else is kept but the current commit and path.
//!
//! The range is passed after `--end-of-options`, so it can never be taken for an option.
//! Without a range, every commit reachable from any ref (`--all`) is walked. Merge commits
//! show no diff of their own (their parents' commits hold the lines they bring).

use crate::stream::OVERLAP;
use crate::{short_commit, Finding, NoteKind, ScanReport, Scanner};
use keyward_core::ApiKey;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

/// Most bytes of a diff line held at once.
pub(crate) const PIECE: usize = 1024 * 1024;
/// Most bytes of git's error output kept for the message.
const STDERR_KEPT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0} is not a git repository ({1})")]
    NotARepository(String, String),
    #[error("git could not be run ({0}); is it installed?")]
    Spawn(std::io::Error),
    #[error("the revision range {0:?} starts with '-': give a range such as main..HEAD")]
    BadRange(String),
    #[error("git log failed: {0}")]
    Failed(String),
}

/// Where the diff being read is.
#[derive(Default)]
struct Position {
    commit: String,
    /// The changed file's path as git gave it, and as shown (keys redacted); `None` outside
    /// a file and for a deleted one.
    path: Option<(String, String)>,
    /// The new blob of the file (from the `index` line), for a binary file.
    blob: Option<String>,
    /// Between `diff --git` and the first hunk: lines there are headers, not content.
    in_header: bool,
    /// The line number the next added line has in the new file.
    next_line: usize,
}

impl Scanner {
    /// Scans the lines added by the commits in `range` (every ref when `None`) of the
    /// repository at `repo`.
    pub fn scan_git(
        &self,
        repo: &Path,
        range: Option<&str>,
        report: &mut ScanReport,
    ) -> Result<(), GitError> {
        let shown_repo = self.redact_name(&repo.display().to_string());
        if let Some(range) = range.filter(|r| r.starts_with('-')) {
            return Err(GitError::BadRange(self.redact_name(range)));
        }
        let probe = git(repo)
            .args(["rev-parse", "--git-dir"])
            .output()
            .map_err(GitError::Spawn)?;
        if !probe.status.success() {
            let why = first_line(&probe.stderr);
            return Err(GitError::NotARepository(shown_repo, self.redact_name(&why)));
        }
        let mut log = git(repo);
        log.args([
            "log",
            "-p",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--full-index",
            "--unified=0",
            "--format=%x00%H",
        ]);
        match range {
            Some(range) => log.args(["--end-of-options", range, "--"]),
            None => log.args(["--all", "--"]),
        };
        let mut child = log
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        // Read git's errors alongside its output, so neither pipe can fill and stall it.
        let stderr = child
            .stderr
            .take()
            .map(|stderr| std::thread::spawn(|| drain(stderr)));
        let read = match child.stdout.take() {
            Some(stdout) => self.read_log(repo, BufReader::new(stdout), report),
            None => Ok(()),
        };
        if read.is_err() {
            // Stop git rather than wait for it to fill a pipe nobody reads.
            let _ = child.kill();
        }
        let status = child.wait().map_err(GitError::Spawn)?;
        let errors = stderr
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default();
        read.map_err(|e| GitError::Failed(format!("reading its output: {e}")))?;
        if !status.success() {
            return Err(GitError::Failed(self.redact_name(&first_line(&errors))));
        }
        Ok(())
    }

    /// Reads `git log -p` output and scans every added line.
    fn read_log(
        &self,
        repo: &Path,
        mut log: impl BufRead,
        report: &mut ScanReport,
    ) -> std::io::Result<()> {
        let mut at = Position::default();
        // Keys in paths: each reported once, not once per commit that touches the file.
        let mut names_seen = Vec::new();
        let mut piece = Vec::with_capacity(PIECE);
        // The added line being read goes on from an earlier piece: that piece's last bytes,
        // and how many characters of the line came before them.
        let mut carry: Option<(Vec<u8>, usize)> = None;
        loop {
            piece.clear();
            let n = (&mut log)
                .take(PIECE as u64)
                .read_until(b'\n', &mut piece)?;
            if n == 0 {
                return Ok(());
            }
            report.bytes_scanned += n as u64;
            let whole = piece.ends_with(b"\n");
            if let Some((mut text, column)) = carry.take() {
                let carried = text.len();
                text.extend_from_slice(&piece);
                self.added_text(&at, &text, carried, column, report);
                if whole {
                    at.next_line += 1;
                } else {
                    carry = Some(tail(&text, column));
                }
                continue;
            }
            if let Some(commit) = piece.strip_prefix(b"\0") {
                report.commits_scanned += 1;
                at = Position {
                    commit: String::from_utf8_lossy(commit).trim().to_owned(),
                    ..Position::default()
                };
            } else if piece.starts_with(b"diff --git ") {
                at.path = None;
                at.blob = None;
                at.in_header = true;
            } else if at.in_header {
                self.header_line(repo, &mut at, &piece, &mut names_seen, report);
            } else if let (Some(added), Some(_)) = (piece.strip_prefix(b"+"), &at.path) {
                // The line's first character is in column 1: the `+` is git's.
                self.added_text(&at, added, 0, 0, report);
                if whole {
                    at.next_line += 1;
                } else {
                    carry = Some(tail(added, 0));
                }
                continue;
            } else if piece.starts_with(b"@@ ") {
                at.next_line = new_start(&piece).unwrap_or(1);
            }
            if !whole {
                skip_line(&mut log)?;
            }
        }
    }

    /// A line between `diff --git` and the first hunk (`index`, `+++ b/path`,
    /// `Binary files … differ`), or the first hunk's header, which ends them.
    fn header_line(
        &self,
        repo: &Path,
        at: &mut Position,
        line: &[u8],
        names_seen: &mut Vec<ApiKey>,
        report: &mut ScanReport,
    ) {
        if line.starts_with(b"@@ ") {
            at.in_header = false;
            at.next_line = new_start(line).unwrap_or(1);
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(ids) = text.strip_prefix("index ") {
            // `index <old>..<new> [mode]`; a deleted file's new blob is all zeros.
            at.blob = ids
                .split(' ')
                .next()
                .and_then(|ids| ids.split_once(".."))
                .map(|(_, new)| new.to_owned())
                .filter(|new| new.bytes().any(|b| b != b'0'));
        } else if let Some(path) = text.strip_prefix("+++ ") {
            at.path = new_path(path).map(|path| self.changed_path(at, path, names_seen, report));
        } else if let Some(files) = text.strip_prefix("Binary files ") {
            let (Some(path), Some(blob)) = (binary_new_path(files), at.blob.clone()) else {
                return;
            };
            let (_, shown) = self.changed_path(at, path, names_seen, report);
            self.scan_blob_in_history(repo, at, &shown, &blob, report);
        }
    }

    /// Notes a changed file's path (a key in it is a finding) and returns it with its shown
    /// form.
    fn changed_path(
        &self,
        at: &Position,
        path: String,
        names_seen: &mut Vec<ApiKey>,
        report: &mut ScanReport,
    ) -> (String, String) {
        let shown = self.redact_name(&path);
        let before = report.findings.len();
        self.name_findings(&shown, None, &path, names_seen, report);
        for finding in &mut report.findings[before..] {
            finding.commit = Some(at.commit.clone());
        }
        (path, shown)
    }

    /// Scans `text`, a piece of an added line that starts `column` characters into the line
    /// and whose first `carried` bytes were scanned with the piece before.
    fn added_text(
        &self,
        at: &Position,
        text: &[u8],
        carried: usize,
        column: usize,
        report: &mut ScanReport,
    ) {
        let Some((_, shown)) = &at.path else { return };
        for found in self.key_spans(text) {
            if carried > 0 && found.end <= carried {
                continue;
            }
            report.findings.push(Finding {
                file: shown.clone(),
                part: None,
                in_name: false,
                line: Some(at.next_line),
                column: Some(column + crate::characters(&text[..found.start]) + 1),
                key: found.key,
                commit: Some(at.commit.clone()),
            });
        }
    }

    /// A binary file added or changed by a commit, read whole from the object store and
    /// scanned as a file is (a document is opened, a large text streamed).
    fn scan_blob_in_history(
        &self,
        repo: &Path,
        at: &Position,
        shown: &str,
        blob: &str,
        report: &mut ScanReport,
    ) {
        let (findings, notes) = (report.findings.len(), report.notes.len());
        let child = git(repo)
            .args(["cat-file", "blob", blob])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(mut child) => {
                if let Some(stdout) = child.stdout.take() {
                    self.scan_reader(shown, stdout, report);
                }
                let _ = child.wait();
            }
            Err(e) => report.note(shown, NoteKind::Error, format!("cannot read: {e}")),
        }
        for finding in &mut report.findings[findings..] {
            finding.commit = Some(at.commit.clone());
        }
        for note in &mut report.notes[notes..] {
            note.path = format!("{}:{}", short_commit(&at.commit), note.path);
        }
    }
}

/// `git` run in `repo`, with paths written as they are (not octal-escaped).
fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.quotePath=false"]);
    command
}

/// What a reader leaves, at most [`STDERR_KEPT`] bytes of it, reading the rest to its end.
fn drain(mut reader: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = (&mut reader)
        .take(STDERR_KEPT as u64)
        .read_to_end(&mut kept);
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    kept
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_owned()
}

/// Reads and drops the rest of a line.
fn skip_line(log: &mut impl BufRead) -> std::io::Result<()> {
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let n = log.take(PIECE as u64).read_until(b'\n', &mut rest)?;
        if n == 0 || rest.ends_with(b"\n") {
            return Ok(());
        }
    }
}

/// The last [`OVERLAP`] bytes of `text` (a piece of a line starting `column` characters in),
/// and how many characters of the line precede them.
fn tail(text: &[u8], column: usize) -> (Vec<u8>, usize) {
    let cut = text.len().saturating_sub(OVERLAP);
    (
        text[cut..].to_vec(),
        column + crate::characters(&text[..cut]),
    )
}

/// The new file's first line from a hunk header `@@ -a,b +c,d @@`.
fn new_start(header: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(header).ok()?;
    let new = text.split(' ').find_map(|part| part.strip_prefix('+'))?;
    new.split(',').next()?.parse().ok()
}

/// The path of `+++ b/<path>` (`None` for `+++ /dev/null`, a deleted file).
fn new_path(side: &str) -> Option<String> {
    unquote(side)?.strip_prefix("b/").map(str::to_owned)
}

/// The new path of `Binary files <old> and <new> differ` (`None` when the file was deleted).
/// Both sides name the same file (renames are off), so `a/P and b/P` splits in the middle.
fn binary_new_path(files: &str) -> Option<String> {
    let files = files.strip_suffix(" differ")?;
    let new = match files.strip_prefix("/dev/null and ") {
        Some(new) => new,
        None => files.get(files.len().checked_add(5)? / 2..)?,
    };
    new_path(new)
}

/// A path as git writes it: as it is, or in double quotes with C escapes (`\"`, `\\`,
/// `\t`, `\n`, and octal bytes) when it holds such characters. `None` for `/dev/null`.
fn unquote(text: &str) -> Option<String> {
    if text == "/dev/null" {
        return None;
    }
    let Some(quoted) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return Some(text.to_owned());
    };
    let mut bytes = Vec::with_capacity(quoted.len());
    let mut chars = quoted.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&d @ b'0'..=b'7') = chars.peek() {
                        value = value * 8 + u32::from(d - b'0');
                        chars.next();
                    }
                }
                bytes.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use keyward_core::KeyPrefix;

    fn key(prefix: &str) -> ApiKey {
        ApiKey::generate(&KeyPrefix::parse(prefix).unwrap()).unwrap()
    }

    fn run(dir: &Path, args: &[&str]) -> String {
        crate::git_fixture::git(dir, args).unwrap()
    }

    fn commit(dir: &Path, message: &str) -> String {
        crate::git_fixture::commit_all(dir, message).unwrap()
    }

    fn scan(dir: &Path, range: Option<&str>) -> Result<ScanReport, GitError> {
        let mut report = ScanReport::default();
        Scanner::new(Limits::default())
            .unwrap()
            .scan_git(dir, range, &mut report)
            .map(|()| report)
    }

    /// Commit, file, line, column and key of a finding.
    type Place = (String, String, Option<usize>, Option<usize>, String);

    fn found(report: &ScanReport) -> Vec<Place> {
        report
            .findings
            .iter()
            .map(|f| {
                let commit = f.commit.clone().unwrap();
                (
                    commit,
                    f.file.clone(),
                    f.line,
                    f.column,
                    f.key.expose().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_key_committed_and_then_deleted_is_found_with_its_commit_path_and_line() {
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path();
        run(dir, &["init", "-q"]);
        std::fs::write(dir.join("README.md"), "# app\n").unwrap();
        let clean = commit(dir, "readme");
        let (k1, k2, k3) = (key("bos_live"), key("bos"), key("kw_root"));
        std::fs::create_dir(dir.join("config")).unwrap();
        std::fs::write(
            dir.join("config/app.env"),
            format!("A=1\nB=2\nBOS_KEY={}\n", k1.expose()),
        )
        .unwrap();
        let added = commit(dir, "add config");
        std::fs::write(dir.join("config/app.env"), "A=1\nB=2\n").unwrap();
        let deleted = commit(dir, "remove the key");
        // A document (a binary to git), an escaped key, and a key in a file name.
        let doc = crate::fixtures::docx(&[vec!["key: ", k2.expose()]]).unwrap();
        std::fs::write(dir.join("handover.docx"), doc).unwrap();
        std::fs::write(
            dir.join("app.log"),
            format!("GET /?k={} 200\n", k3.expose().replace('_', "%5F")),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{}.txt", k1.expose())), "x\n").unwrap();
        let more = commit(dir, "docs");
        assert!(!std::fs::read_to_string(dir.join("config/app.env"))
            .unwrap()
            .contains("BOS"));

        let report = scan(dir, None).unwrap();
        let mut all = found(&report);
        all.sort();
        let mut expected = vec![
            (
                added.clone(),
                "config/app.env".into(),
                Some(3),
                Some(9),
                k1.expose().to_owned(),
            ),
            (
                more.clone(),
                "app.log".into(),
                Some(1),
                Some(9),
                k3.expose().to_owned(),
            ),
            (
                more.clone(),
                "handover.docx".into(),
                None,
                None,
                k2.expose().to_owned(),
            ),
            (
                more.clone(),
                format!("{}….txt", k1.start()),
                None,
                None,
                k1.expose().to_owned(),
            ),
        ];
        expected.sort();
        assert_eq!(all, expected, "{:?}", report.notes);
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        let doc = report
            .findings
            .iter()
            .find(|f| f.file == "handover.docx")
            .unwrap();
        assert_eq!(doc.part.as_deref(), Some("word/document.xml"));
        let printed = format!("{:?} {}", report.findings, report.findings[0]);
        for k in [&k1, &k2, &k3] {
            assert!(!printed.contains(k.expose()));
        }
        assert!(report
            .findings
            .iter()
            .any(|f| f.source() == format!("{}:config/app.env", &added[..12])));

        // A range: only the commits in it.
        let report = scan(dir, Some(&format!("{added}..{deleted}"))).unwrap();
        assert!(report.findings.is_empty());
        let report = scan(dir, Some(&format!("{clean}..{added}"))).unwrap();
        assert_eq!(found(&report).len(), 1);
        assert!(matches!(
            scan(dir, Some("--output=/tmp/x")),
            Err(GitError::BadRange(_))
        ));
        assert!(matches!(
            scan(dir, Some("no-such-branch")),
            Err(GitError::Failed(_))
        ));
    }

    #[test]
    fn a_history_without_keys_finds_none_and_a_folder_that_is_no_repository_is_an_error() {
        let repo = tempfile::tempdir().unwrap();
        run(repo.path(), &["init", "-q"]);
        let empty = scan(repo.path(), None).unwrap();
        assert!(empty.findings.is_empty() && empty.notes.is_empty());
        std::fs::write(repo.path().join("a.txt"), "bos_notakey\nhello\n").unwrap();
        commit(repo.path(), "one");
        let clean = scan(repo.path(), None).unwrap();
        assert!(clean.findings.is_empty() && clean.notes.is_empty());
        assert!(clean.bytes_scanned > 0);
        assert_eq!(clean.commits_scanned, 1);

        let plain = tempfile::tempdir().unwrap();
        let err = scan(plain.path(), None).unwrap_err();
        assert!(matches!(err, GitError::NotARepository(..)), "{err}");
        assert!(err.to_string().contains("is not a git repository"), "{err}");
    }

    #[test]
    fn a_line_longer_than_a_piece_is_scanned_in_overlapping_pieces() {
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path();
        run(dir, &["init", "-q"]);
        let keys: Vec<ApiKey> = (0..3).map(|_| key("acme")).collect();
        let mut line = "x".repeat(PIECE - 30);
        line.push(' ');
        line.push_str(keys[0].expose());
        line.push_str(&" y".repeat(PIECE));
        line.push_str(keys[1].expose());
        std::fs::write(
            dir.join("min.js"),
            format!("{line}\n{}\n", keys[2].expose()),
        )
        .unwrap();
        commit(dir, "minified");
        let report = scan(dir, None).unwrap();
        let places: Vec<_> = report
            .findings
            .iter()
            .map(|f| (f.line, f.column, f.key.expose().to_owned()))
            .collect();
        assert_eq!(
            places,
            vec![
                (Some(1), Some(PIECE - 28), keys[0].expose().to_owned()),
                (
                    Some(1),
                    Some(PIECE - 28 + 43 + 2 * PIECE),
                    keys[1].expose().to_owned()
                ),
                (Some(2), Some(1), keys[2].expose().to_owned()),
            ]
        );
    }

    #[test]
    fn paths_are_read_as_git_writes_them() {
        assert_eq!(new_path("b/src/app.env").as_deref(), Some("src/app.env"));
        assert_eq!(new_path("/dev/null"), None);
        assert_eq!(
            new_path(r#""b/a \"q\" \303\251\tx""#).as_deref(),
            Some("a \"q\" é\tx")
        );
        assert_eq!(
            binary_new_path("a/my doc.docx and b/my doc.docx differ").as_deref(),
            Some("my doc.docx")
        );
        assert_eq!(
            binary_new_path("/dev/null and b/x and b/y.png differ").as_deref(),
            Some("x and b/y.png")
        );
        assert_eq!(binary_new_path("a/x.png and /dev/null differ"), None);
        assert_eq!(new_start(b"@@ -0,0 +12,3 @@ fn main"), Some(12));
        assert_eq!(new_start(b"@@ -3 +4 @@"), Some(4));
    }
}
