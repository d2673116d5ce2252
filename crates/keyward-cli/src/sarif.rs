//! `keyward scan --sarif`: the report as a SARIF 2.1.0 log for code-scanning tools (GitHub
//! code scanning among them).
//!
//! Every result has a `region`, which GitHub requires: the line and column of a key in plain
//! text, and line 1 of the container for a key inside a document or archive, or in a name,
//! whose inner location (`word/document.xml`, `a.zip!b.txt:3:1`, `(name)`) is then the
//! result's `logicalLocations` and is in its message. Every result has `partialFingerprints`
//! that stay the same from run to run, so repeated uploads deduplicate: a SHA-256 of the rule,
//! file, commit, inner location, the key's visible start and which occurrence of all those it
//! is. No key material beyond the visible start, which the message shows anyway, goes in.
//! A finding in git history carries its commit in `properties.commit` and in its message.

use keyward_scan::{short_commit, Finding, NoteKind, ScanReport};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use crate::scan::exit_status;

const RULE_ID: &str = "keyward/api-key";
/// The name of the fingerprint; a new version if what it hashes ever changes.
const FINGERPRINT: &str = "keywardFinding/v1";

/// The report as a SARIF 2.1.0 log: one rule, one result per finding, and notes as tool
/// execution notifications.
pub(crate) fn sarif(report: &ScanReport, allow_skipped: bool) -> Value {
    // How many times each fingerprinted place has been seen so far.
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let place = place(f);
            let occurrence = occurrences.entry(place.clone()).or_default();
            *occurrence += 1;
            result(f, &fingerprint(&place, *occurrence))
        })
        .collect();
    let notifications: Vec<Value> = report
        .notes
        .iter()
        .map(|n| {
            json!({
                "level": if n.kind == NoteKind::Error { "error" } else { "note" },
                "message": {"text": format!("{}: {}", n.path, n.message)},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "keyward scan",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/keyward/keyward/blob/main/docs/leaks.md",
                "rules": [{
                    "id": RULE_ID,
                    "name": "KeywardApiKey",
                    "shortDescription": {"text": "A keyward API key with a valid checksum"},
                    "fullDescription": {"text": "A key in keyward's format (<prefix>_<body><checksum>) whose CRC-32 checksum is valid: a real key, stored where it should not be."},
                    "help": {"text": "Revoke the key (or report it with keyward scan --report), issue a new one, and keep keys in a secret manager rather than in files."},
                    "defaultConfiguration": {"level": "error"},
                }],
            }},
            "invocations": [{
                "executionSuccessful": exit_status(report, allow_skipped) != crate::exit::EXIT_ERROR,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// One result: where, what, and its fingerprint.
fn result(f: &Finding, fingerprint: &str) -> Value {
    // Plain text has a line and column of its own; anything inside a container (or a
    // name) points at the container's first line and says where inside it in words.
    let inner = f.part.is_some() || f.in_name || f.line.is_none();
    let region = match (inner, f.line, f.column) {
        (false, Some(line), Some(column)) => json!({"startLine": line, "startColumn": column}),
        _ => json!({"startLine": 1}),
    };
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri(&f.file)},
            "region": region,
        },
    });
    let mut whereabouts = String::new();
    if inner {
        let name = f.location();
        whereabouts = format!(" in {name}");
        location["logicalLocations"] = json!([{
            "name": name,
            "fullyQualifiedName": format!("{}!{name}", f.file),
            "kind": "member",
        }]);
    }
    if let Some(commit) = &f.commit {
        whereabouts.push_str(&format!(" (commit {})", short_commit(commit)));
    }
    let mut result = json!({
        "ruleId": RULE_ID,
        "level": "error",
        "message": {"text": format!(
            "keyward API key {}… found{whereabouts}: revoke it (keyward keys revoke, or keyward scan --report) and issue a new one",
            f.start(),
        )},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    });
    if let Some(commit) = &f.commit {
        result["properties"] = json!({"commit": commit});
    }
    result
}

/// What identifies a finding across runs: rule, file, commit, inner location and the key's
/// visible start, separated by NUL (which none of them holds).
fn place(f: &Finding) -> String {
    [
        RULE_ID,
        &f.file,
        f.commit.as_deref().unwrap_or(""),
        &f.location(),
        &f.start(),
    ]
    .join("\0")
}

/// The fingerprint of the `occurrence`-th finding at `place`, as lowercase hex.
fn fingerprint(place: &str, occurrence: usize) -> String {
    let digest = Sha256::new()
        .chain_update(place.as_bytes())
        .chain_update(format!("\0{occurrence}").as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A path as a relative URI reference: `/` separators, everything but unreserved
/// characters percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.replace('\\', "/").bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::json_report;
    use keyward_scan::{fixtures, Limits, Scanner};

    fn key() -> String {
        keyward_core::ApiKey::generate(&keyward_core::KeyPrefix::parse("bos").unwrap())
            .unwrap()
            .expose()
            .to_owned()
    }

    /// `log` read into the types generated from the SARIF 2.1.0 schema and written back
    /// unchanged: every property is one the schema defines, of the type it defines, and
    /// every property the schema requires is there.
    fn assert_schema_valid(log: &Value) {
        assert_eq!(&through_schema_types(log).unwrap(), log);
    }

    fn through_schema_types(log: &Value) -> Result<Value, serde_json::Error> {
        let typed: serde_sarif::sarif::Sarif = serde_json::from_value(log.clone())?;
        serde_json::to_value(&typed)
    }

    #[test]
    fn every_kind_of_finding_and_note_is_valid_sarif_2_1_0() {
        let scanner = Scanner::new(Limits::default()).unwrap();
        let mut report = ScanReport::default();
        let (a, b, c) = (key(), key(), key());
        scanner.scan_bytes("app.log", format!("x {a}\n").as_bytes(), &mut report);
        let doc = fixtures::docx(&[vec!["key: ", &b]]).unwrap();
        scanner.scan_bytes("handover.docx", &doc, &mut report);
        scanner.scan_bytes("logo.png", b"\x89PNG\r\n\x1a\n\0\0", &mut report);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{c}.txt")), "x").unwrap();
        scanner.scan_path(dir.path(), &mut report);
        report.findings[0].commit = Some("0123456789abcdef0123456789abcdef01234567".into());
        assert_eq!(report.findings.len(), 3);
        assert_eq!(report.notes.len(), 1);
        for allow_skipped in [false, true] {
            assert_schema_valid(&sarif(&report, allow_skipped));
        }
        assert_schema_valid(&sarif(&ScanReport::default(), false));
        // The check catches a property out of place, a wrong type and a missing one.
        let log = sarif(&report, false);
        let mut misplaced = log.clone();
        misplaced["runs"][0]["results"][0]["region"] = json!({"startLine": 1});
        assert_ne!(through_schema_types(&misplaced).unwrap(), misplaced);
        let mut mistyped = log.clone();
        mistyped["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
            ["startLine"] = json!("1");
        assert!(through_schema_types(&mistyped).is_err());
        let mut incomplete = log;
        incomplete["runs"][0]["tool"]["driver"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert!(through_schema_types(&incomplete).is_err());
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("docs/hand over#1.docx"), "docs/hand%20over%231.docx");
        assert_eq!(uri(r"a\b.txt"), "a/b.txt");
    }

    #[test]
    fn sarif_has_the_required_shape_and_no_whole_key() {
        let scanner = Scanner::new(Limits::default()).unwrap();
        let mut report = ScanReport::default();
        let key = key();
        scanner.scan_bytes("notes.txt", format!("x {key}\n").as_bytes(), &mut report);
        assert_eq!(report.findings.len(), 1);
        let log = sarif(&report, false);
        assert_eq!(log["version"], "2.1.0");
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], RULE_ID);
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert_eq!(
            (region["startLine"].as_u64(), region["startColumn"].as_u64()),
            (Some(1), Some(3))
        );
        assert!(result["locations"][0].get("logicalLocations").is_none());
        let text = serde_json::to_string(&log).unwrap() + &json_report(&report, None).to_string();
        assert!(!text.contains(&key), "{text}");
        assert!(text.contains(&key[..8]));
    }

    #[test]
    fn findings_in_documents_point_at_line_1_and_name_the_part() {
        let scanner = Scanner::new(Limits::default()).unwrap();
        let key = key();
        let doc = fixtures::docx(&[vec!["key: ", &key]]).unwrap();
        let mut report = ScanReport::default();
        scanner.scan_bytes("share/handover.docx", &doc, &mut report);
        let log = sarif(&report, false);
        let result = &log["runs"][0]["results"][0];
        let location = &result["locations"][0];
        assert_eq!(
            location["physicalLocation"]["region"],
            json!({"startLine": 1})
        );
        assert_eq!(
            location["physicalLocation"]["artifactLocation"]["uri"],
            "share/handover.docx"
        );
        assert_eq!(location["logicalLocations"][0]["name"], "word/document.xml");
        let message = result["message"]["text"].as_str().unwrap();
        assert!(message.contains("in word/document.xml"), "{message}");
    }

    #[test]
    fn fingerprints_are_stable_across_runs_and_distinct_for_repeats_and_hold_no_key() {
        let scanner = Scanner::new(Limits::default()).unwrap();
        let (a, b) = (key(), key());
        let text = format!("{a}\n{a} {b}\n{a}\n");
        let fingerprints = |text: &str| -> Vec<String> {
            let mut report = ScanReport::default();
            scanner.scan_bytes("app.log", text.as_bytes(), &mut report);
            let log = sarif(&report, false);
            log["runs"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["partialFingerprints"][FINGERPRINT]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        let first = fingerprints(&text);
        assert_eq!(first.len(), 4);
        assert_eq!(first, fingerprints(&text));
        let mut unique = first.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        for f in &first {
            assert_eq!(f.len(), 64);
            assert!(!a.contains(f.as_str()) && !f.contains(&a[4..12]));
        }
        // The same key in another file is another result.
        let mut report = ScanReport::default();
        scanner.scan_bytes("other.log", text.as_bytes(), &mut report);
        let other = sarif(&report, false);
        assert_ne!(
            other["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT],
            first[0].as_str()
        );
    }
}
