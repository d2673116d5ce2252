//! `keyward scan PATH… [-]`: find keys in files, folders, standard input and Office
//! documents; print them as a table, `--json` or `--sarif` (SARIF 2.1.0); with `--report`,
//! send them to `POST /v1/leaks` so they are revoked at once.
//!
//! Exit status: `1` when keys were found (and, with `--report`, all reported); `0` when none
//! were found and everything could be read; `2` on errors (a path that cannot be read, a
//! corrupt archive, a limit reached, or keys the server did not accept: the output says which
//! were reported and which not). So it works as a pre-commit hook or CI step.
//!
//! **Invariant:** output shows a key's visible start (`bos_5Qm2…`), never the whole key; the
//! plaintext is only sent to the server, with `--report`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use keyward_api::leaks::{
    LeakReport, LeakReportAccepted, LeakedKey, LocatedKey, MAX_LEAK_KEYS, MAX_LEAK_LOCATION_CHARS,
    MAX_LEAK_SOURCE_CHARS,
};
use keyward_scan::{Finding, Limits, NoteKind, ScanReport, Scanner};
use serde_json::{json, Value};

use crate::connect::{self, Explained};
use crate::exit::{fail, EXIT_ERROR, EXIT_NOT_VALID};
use crate::output::{emit, one_line, stderr_line, table};

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
        Err(err) => return fail(&err.into()),
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
        Err(err) => return fail(&anyhow!("the scan failed: {err}")),
    };
    for note in &report.notes {
        stderr_line(&format!(
            "{}: {}: {}",
            note.kind.as_str(),
            one_line(&note.path),
            one_line(&note.message)
        ));
    }
    // What the server accepted, if the keys were reported.
    let reported = if args.report && !report.findings.is_empty() {
        Some(send_report(&args, &report.findings).await)
    } else {
        None
    };
    if let Err(err) = print(&args, &report, reported.as_ref()) {
        return fail(&err);
    }
    if let Some(Reported {
        accepted,
        refused: Some(err),
        ..
    }) = &reported
    {
        let n = report.findings.len();
        return fail(&anyhow!(
            "{} of {n} key{} NOT reported: {err:#}",
            n - accepted,
            if n - accepted == 1 { " was" } else { "s were" }
        ));
    }
    if !report.findings.is_empty() {
        ExitCode::from(EXIT_NOT_VALID)
    } else if report.has_errors() {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

/// What became of `--report`: the findings are sent in order, in reports of at most
/// [`MAX_LEAK_KEYS`]; the first `accepted` were accepted (the server answers `202` only once
/// it has revoked the valid ones), and `refused` says why the rest were not sent or not
/// accepted.
struct Reported {
    server: String,
    accepted: usize,
    refused: Option<anyhow::Error>,
}

/// Prints the findings; `reported` says what the server accepted, if they were reported.
fn print(args: &ScanArgs, report: &ScanReport, reported: Option<&Reported>) -> Result<()> {
    if args.sarif {
        return emit(&serde_json::to_string_pretty(&sarif(report))?);
    }
    if args.json {
        return emit(&serde_json::to_string_pretty(&json_report(
            report, reported,
        ))?);
    }
    let n = report.findings.len();
    let summary = match (n, reported) {
        (0, _) => format!("no keys found ({} files scanned)", report.files_scanned),
        (_, None) => format!(
            "{n} key{} found ({} files scanned): revoke or rotate them, or run again with --report",
            plural(n),
            report.files_scanned
        ),
        (_, Some(reported)) if reported.accepted == n => format!(
            "{n} key{} found ({} files scanned) and reported to {}, which revoked the valid ones",
            plural(n),
            report.files_scanned,
            reported.server,
        ),
        (_, Some(reported)) if reported.accepted == 0 => format!(
            "{n} key{} found ({} files scanned); none reported",
            plural(n),
            report.files_scanned,
        ),
        (_, Some(reported)) => format!(
            "{n} keys found ({} files scanned); {} of them (REPORTED yes) reported to {}, which revoked the valid ones among them; the rest (REPORTED no) were not",
            report.files_scanned, reported.accepted, reported.server,
        ),
    };
    if n > 0 {
        let cells = |f: &Finding| {
            [
                one_line(&f.file),
                one_line(&f.location()),
                format!("{}…", f.start()),
            ]
        };
        let out = match reported {
            None => table(
                ["FILE", "LOCATION", "KEY"],
                report.findings.iter().map(cells),
            ),
            Some(reported) => table(
                ["FILE", "LOCATION", "KEY", "REPORTED"],
                report.findings.iter().enumerate().map(|(i, f)| {
                    let [file, location, key] = cells(f);
                    let yes = if i < reported.accepted { "yes" } else { "no" };
                    [file, location, key, yes.to_owned()]
                }),
            ),
        };
        emit(&out)?;
    }
    stderr_line(&summary);
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

/// `reported` (with `--report`): whether every key was reported; each finding's `reported`:
/// whether the server accepted the report that held it; `report_error`: why the others were
/// not.
fn json_report(report: &ScanReport, reported: Option<&Reported>) -> Value {
    let findings = report.findings.iter().enumerate().map(|(i, f)| {
        let mut finding = finding_json(f);
        if let Some(reported) = reported {
            finding["reported"] = json!(i < reported.accepted);
        }
        finding
    });
    json!({
        "findings": findings.collect::<Vec<_>>(),
        "notes": report.notes.iter().map(|n| json!({
            "path": n.path, "kind": n.kind.as_str(), "message": n.message,
        })).collect::<Vec<_>>(),
        "files_scanned": report.files_scanned,
        "bytes_scanned": report.bytes_scanned,
        "reported": reported.is_some_and(|r| r.refused.is_none()),
        "reported_keys": reported.map_or(0, |r| r.accepted),
        "report_error": reported.and_then(|r| r.refused.as_ref()).map(|e| one_line(&format!("{e:#}"))),
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

/// Sends the plaintext keys to `POST /v1/leaks`, in order, as many reports as the limit per
/// report needs, and stops at the first one not accepted (a `429` refuses the ones after it
/// too).
async fn send_report(args: &ScanArgs, findings: &[Finding]) -> Reported {
    let client = match connect::anonymous(&args.url) {
        Ok(client) => client,
        Err(err) => {
            return Reported {
                server: "the server".into(),
                accepted: 0,
                refused: Some(err),
            }
        }
    };
    let server = client.url();
    let source = clip(&one_line(&args.source), MAX_LEAK_SOURCE_CHARS);
    let mut accepted = 0;
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
        let sent: Result<keyward_client::Reply<LeakReportAccepted>> =
            client.report_leaks(&body).await.explained();
        if let Err(err) = sent {
            return Reported {
                server,
                accepted,
                refused: Some(err),
            };
        }
        accepted += chunk.len();
    }
    Reported {
        server,
        accepted,
        refused: None,
    }
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
        let text = serde_json::to_string(&log).unwrap() + &json_report(&report, None).to_string();
        assert!(!text.contains(&key), "{text}");
        assert!(text.contains(&key[..8]));
    }
}
