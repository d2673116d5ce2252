//! `keyward scan PATH… [-]`: find keys in files, folders, standard input and Office
//! documents; print them as a table, `--json` or `--sarif` (SARIF 2.1.0); with `--report`,
//! send them to `POST /v1/leaks` so they are revoked at once.
//!
//! Exit status: `1` when keys were found (and, with `--report`, reported); `0` when none were
//! found and everything could be read; `2` on errors (a path that cannot be read, a corrupt
//! archive, a limit reached, or a report the server did not accept). So it works as a
//! pre-commit hook or CI step.
//!
//! **Invariant:** output shows a key's visible start (`bos_5Qm2…`), never the whole key; the
//! plaintext is only sent to the server, with `--report`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use keyward_api::leaks::{
    LeakReport, LeakReportAccepted, LeakedKey, LocatedKey, MAX_LEAK_KEYS, MAX_LEAK_LOCATION_CHARS,
    MAX_LEAK_SOURCE_CHARS,
};
use keyward_scan::{Finding, Limits, NoteKind, ScanReport, Scanner};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{Client, Reply};
use crate::output::{emit, one_line, table};
use crate::{EXIT_ERROR, EXIT_NOT_VALID};

/// Find keys in files, folders and Office documents.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Files and folders to scan; "-" reads standard input
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Machine-readable JSON output
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,
    /// SARIF 2.1.0 output, for code-scanning tools
    #[arg(long)]
    pub sarif: bool,
    /// Send the keys found to KEYWARD_URL's POST /v1/leaks, which revokes them at once
    #[arg(long)]
    pub report: bool,
    /// Who found them, recorded in each key's audit trail
    #[arg(long, default_value = "keyward scan")]
    pub source: String,
    /// Server URL (for --report)
    #[arg(long, env = "KEYWARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

/// Runs `scan`; see the module documentation for the exit status.
pub async fn run_scan(args: ScanArgs) -> ExitCode {
    let scanner = match Scanner::new(Limits::default()) {
        Ok(scanner) => scanner,
        Err(err) => return crate::fail(&err.into()),
    };
    let paths = args.paths.clone();
    // Reading and unpacking is blocking work: keep it off the async runtime's threads.
    let scanned = tokio::task::spawn_blocking(move || {
        let mut report = ScanReport::default();
        for path in &paths {
            if path == "-" {
                scanner.scan_reader("-", std::io::stdin().lock(), &mut report);
            } else {
                scanner.scan_path(Path::new(path), &mut report);
            }
        }
        report
    })
    .await;
    let report = match scanned {
        Ok(report) => report,
        Err(err) => return crate::fail(&anyhow!("the scan failed: {err}")),
    };
    for note in &report.notes {
        let _ = writeln!(
            std::io::stderr(),
            "{}: {}: {}",
            note.kind.as_str(),
            one_line(&note.path),
            one_line(&note.message)
        );
    }
    // Where the keys were reported, if they were.
    let reported = if args.report && !report.findings.is_empty() {
        match send_report(&args, &report.findings).await {
            Ok(server) => Some(server),
            Err(err) => {
                let _ = print(&args, &report, None);
                return crate::fail(&err);
            }
        }
    } else {
        None
    };
    if let Err(err) = print(&args, &report, reported.as_deref()) {
        return crate::fail(&err);
    }
    if !report.findings.is_empty() {
        ExitCode::from(EXIT_NOT_VALID)
    } else if report.has_errors() {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the findings; `reported_to` is the server they were reported to, if they were.
fn print(args: &ScanArgs, report: &ScanReport, reported_to: Option<&str>) -> Result<()> {
    if args.sarif {
        return emit(&serde_json::to_string_pretty(&sarif(report))?);
    }
    if args.json {
        return emit(&serde_json::to_string_pretty(&json_report(
            report,
            reported_to.is_some(),
        ))?);
    }
    let n = report.findings.len();
    let summary = match (n, reported_to) {
        (0, _) => format!("no keys found ({} files scanned)", report.files_scanned),
        (_, None) => format!(
            "{n} key{} found ({} files scanned): revoke or rotate them, or run again with --report",
            plural(n),
            report.files_scanned
        ),
        (_, Some(server)) => format!(
            "{n} key{} found ({} files scanned) and reported to {server}: valid ones are now revoked",
            plural(n),
            report.files_scanned,
        ),
    };
    if n > 0 {
        let rows = report.findings.iter().map(|f| {
            [
                one_line(&f.file),
                one_line(&f.location()),
                format!("{}…", f.start()),
            ]
        });
        emit(&table(["FILE", "LOCATION", "KEY"], rows))?;
    }
    let _ = writeln!(std::io::stderr(), "{summary}");
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "file": f.file,
        "part": f.part,
        "line": f.line,
        "column": f.column,
        "location": f.location(),
        "start": f.start(),
        "prefix": f.key.prefix(),
    })
}

fn json_report(report: &ScanReport, reported: bool) -> Value {
    json!({
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "notes": report.notes.iter().map(|n| json!({
            "path": n.path, "kind": n.kind.as_str(), "message": n.message,
        })).collect::<Vec<_>>(),
        "files_scanned": report.files_scanned,
        "bytes_scanned": report.bytes_scanned,
        "reported": reported,
    })
}

const RULE_ID: &str = "keyward/api-key";

/// The report as a SARIF 2.1.0 log: one rule, one result per finding, and notes as tool
/// execution notifications.
fn sarif(report: &ScanReport) -> Value {
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut physical = json!({"artifactLocation": {"uri": uri(&f.file)}});
            if let (None, Some(line), Some(column)) = (&f.part, f.line, f.column) {
                physical["region"] = json!({"startLine": line, "startColumn": column});
            }
            let mut result = json!({
                "ruleId": RULE_ID,
                "level": "error",
                "message": {"text": format!(
                    "keyward API key {}… found{}: revoke it (keyward keys revoke, or keyward scan --report) and issue a new one",
                    f.start(),
                    f.part.as_ref().map(|_| format!(" in {}", f.location())).unwrap_or_default()
                )},
                "locations": [{"physicalLocation": physical}],
            });
            if let Some(part) = &f.part {
                result["locations"][0]["logicalLocations"] =
                    json!([{"name": part, "kind": "member"}]);
            }
            result
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
                "executionSuccessful": !report.has_errors(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
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

/// Where a finding is, as the server records it: `file: location`, within the length limit.
fn reported_location(f: &Finding) -> String {
    let location = f.location();
    let text = if location.is_empty() {
        f.file.clone()
    } else {
        format!("{}: {location}", f.file)
    };
    clip(&one_line(&text), MAX_LEAK_LOCATION_CHARS)
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}…")
}

/// Sends the plaintext keys to `POST /v1/leaks`, as many requests as the limit per report
/// needs; returns the server's URL as shown to people.
async fn send_report(args: &ScanArgs, findings: &[Finding]) -> Result<String> {
    let client = Client::anonymous(&args.url)?;
    let source = clip(&one_line(&args.source), MAX_LEAK_SOURCE_CHARS);
    for chunk in findings.chunks(MAX_LEAK_KEYS) {
        let body = LeakReport {
            keys: chunk
                .iter()
                .map(|f| {
                    LeakedKey::Located(LocatedKey {
                        key: f.key.expose().to_owned(),
                        location: Some(reported_location(f)),
                    })
                })
                .collect(),
            source: Some(source.clone()),
        };
        let _: Reply<LeakReportAccepted> = client
            .send(Method::POST, &["v1", "leaks"], &body)
            .await
            .context("the keys were NOT reported")?;
    }
    Ok(client.shown_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("docs/hand over#1.docx"), "docs/hand%20over%231.docx");
        assert_eq!(uri(r"a\b.txt"), "a/b.txt");
    }

    #[test]
    fn sarif_has_the_required_shape_and_no_whole_key() {
        let scanner = Scanner::new(Limits::default()).unwrap();
        let mut report = ScanReport::default();
        let key = keyward_core::ApiKey::generate(&keyward_core::KeyPrefix::parse("bos").unwrap())
            .unwrap()
            .expose()
            .to_owned();
        scanner.scan_bytes("notes.txt", format!("x {key}\n").as_bytes(), &mut report);
        assert_eq!(report.findings.len(), 1);
        let log = sarif(&report);
        assert_eq!(log["version"], "2.1.0");
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], RULE_ID);
        assert_eq!(
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
            1
        );
        let text = serde_json::to_string(&log).unwrap() + &json_report(&report, false).to_string();
        assert!(!text.contains(&key), "{text}");
        assert!(text.contains(&key[..8]));
    }
}
