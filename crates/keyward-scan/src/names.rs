//! Keys in names: a file, folder or archive entry can be named with a key (a key saved as
//! `bos_5Qm2….txt`, or a folder per key). Such a key is a finding like any other, and every
//! name the scanner returns (in findings and in notes) shows it only as its `start…`.
//!
//! Names are also shown on one line, as they are: control characters (a newline in a file
//! name) and bidirectional controls are escaped (`\n`, `\u{202e}`), so a name can neither
//! forge a line of output nor read backwards, and a location reported to `/v1/leaks` (which
//! refuses such characters) is accepted.

use crate::{Finding, ScanReport, Scanner};
use keyward_core::text::is_bidi_control;
use keyward_core::ApiKey;

impl Scanner {
    /// `name` with every valid key in it replaced by its `start…`, and control and
    /// bidirectional characters escaped.
    pub fn redact_name(&self, name: &str) -> String {
        let mut out = String::with_capacity(name.len());
        let mut copied = 0;
        for found in self.key_spans(name.as_bytes()) {
            // A key and its escapes are ASCII, so both ends are `str` boundaries.
            push_escaped(&mut out, &name[copied..found.start]);
            out.push_str(&found.key.start());
            out.push('…');
            copied = found.end;
        }
        push_escaped(&mut out, &name[copied..]);
        out
    }

    /// Records each valid key in `name` as a finding in `file` (or in its `part`), where
    /// `file` and `part` are already redacted, unless it is in `seen` (the keys already found
    /// in names that repeat it, such as the entries under a folder named with a key).
    pub(crate) fn name_findings(
        &self,
        file: &str,
        part: Option<&str>,
        name: &str,
        seen: &mut Vec<ApiKey>,
        report: &mut ScanReport,
    ) {
        for (_, key) in self.keys_in(name.as_bytes()) {
            if seen.iter().any(|s| s.expose() == key.expose()) {
                continue;
            }
            seen.push(key.clone());
            report.findings.push(Finding {
                file: file.to_owned(),
                part: part.map(str::to_owned),
                line: None,
                column: None,
                in_name: true,
                commit: None,
                key,
            });
        }
    }
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}
