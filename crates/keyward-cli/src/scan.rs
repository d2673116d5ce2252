//! `keyward scan PATH… [-]`: find keys in files, folders, standard input and Office
//! documents; print them as a table, `--json` or `--sarif` (SARIF 2.1.0); with `--report`,
//! send them to `POST /v1/leaks` so they are revoked at once.
//!
//! `--git [RANGE]` scans a repository's history instead: the lines every commit added.
//!
//! Exit status: `1` when keys were found (and, with `--report`, all reported); `0` when none
//! were found and everything was read; `2` otherwise: something was not read, or not wholly
//! (a binary, a path that cannot be read, a corrupt archive, a limit reached; with
//! `--allow-skipped`, content passed over on purpose no longer counts, errors still do), the
//! history could not be walked, or keys the server did not accept (the output says which
//! were reported and which not). So a CI gate cannot pass by not reading a file.
//!
//! **Invariant:** output shows a key's visible start (`bos_5Qm2…`), never the whole key; the
//! plaintext is only sent to the server, with `--report`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use keyward_api::leaks::{
    LeakReport, LeakReportAccepted, LeakedKey, LocatedKey, MAX_LEAK_KEYS, MAX_LEAK_LOCATION_CHARS,
    MAX_LEAK_SOURCE_CHARS,
};
use keyward_scan::{Finding, Limits, ScanReport, Scanner};
use serde_json::{json, Value};

use crate::connect::{self, Explained};
use crate::exit::{fail, EXIT_ERROR, EXIT_NOT_VALID};
use crate::output::{emit, one_line, stderr_line, table};
use crate::sarif::sarif;

/// `keyward scan`'s options (the exit status is in the module documentation).
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Files and folders to scan; "-" reads standard input
    #[arg(required_unless_present = "git", conflicts_with = "git")]
    pub paths: Vec<String>,
    /// Scan git history instead: the lines every commit in RANGE added (e.g. main..HEAD;
    /// default: every commit of every branch and tag)
    #[arg(long, value_name = "RANGE", num_args = 0..=1)]
    pub git: Option<Option<String>>,
    /// The repository for --git (default: the current folder)
    #[arg(long, value_name = "DIR", requires = "git")]
    pub repo: Option<PathBuf>,
    /// Exit 0, not 2, when no key was found and only content passed over on purpose was not
    /// read (binaries, files too large that are not text); errors still exit 2
    #[arg(long)]
    pub allow_skipped: bool,
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
    let git = args.git.clone().map(|range| {
        let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
        (repo, range)
    });
    // Reading and unpacking is blocking work: keep it off the async runtime's threads.
    let scanned = tokio::task::spawn_blocking(move || {
        let mut report = ScanReport::default();
        if let Some((repo, range)) = git {
            scanner.scan_git(&repo, range.as_deref(), &mut report)?;
            return Ok(report);
        }
        for path in &paths {
            if path == "-" {
                scanner.scan_reader("-", std::io::stdin().lock(), &mut report);
            } else {
                scanner.scan_path(Path::new(path), &mut report);
            }
        }
        Ok::<_, keyward_scan::GitError>(report)
    })
    .await;
    let report = match scanned {
        Ok(Ok(report)) => report,
        Ok(Err(err)) => return fail(&err.into()),
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
    ExitCode::from(exit_status(&report, args.allow_skipped))
}

/// Found keys win; then anything not read fails the gate, except content passed over on
/// purpose with `--allow-skipped`.
pub(crate) fn exit_status(report: &ScanReport, allow_skipped: bool) -> u8 {
    if !report.findings.is_empty() {
        EXIT_NOT_VALID
    } else if report.has_errors() || (report.has_unread() && !allow_skipped) {
        EXIT_ERROR
    } else {
        0
    }
}

/// What became of `--report`: the findings are sent in order, in reports of at most
/// [`MAX_LEAK_KEYS`]; the first `accepted` were accepted (the server answers `202` only once
/// it has revoked the valid ones), and `refused` says why the rest were not sent or not
/// accepted.
pub(crate) struct Reported {
    server: String,
    accepted: usize,
    refused: Option<anyhow::Error>,
}

/// Prints the findings; `reported` says what the server accepted, if they were reported.
fn print(args: &ScanArgs, report: &ScanReport, reported: Option<&Reported>) -> Result<()> {
    if args.sarif {
        return emit(&serde_json::to_string_pretty(&sarif(
            report,
            args.allow_skipped,
        ))?);
    }
    if args.json {
        return emit(&serde_json::to_string_pretty(&json_report(
            report, reported,
        ))?);
    }
    let n = report.findings.len();
    let scanned = if args.git.is_some() {
        format!("{} commits scanned", report.commits_scanned)
    } else {
        format!("{} files scanned", report.files_scanned)
    };
    let summary = match (n, reported) {
        (0, _) => format!("no keys found ({scanned})"),
        (_, None) => format!(
            "{n} key{} found ({scanned}): revoke or rotate them, or run again with --report",
            plural(n),
        ),
        (_, Some(reported)) if reported.accepted == n => format!(
            "{n} key{} found ({scanned}) and reported to {}, which revoked the valid ones",
            plural(n),
            reported.server,
        ),
        (_, Some(reported)) if reported.accepted == 0 => {
            format!("{n} key{} found ({scanned}); none reported", plural(n))
        }
        (_, Some(reported)) => format!(
            "{n} keys found ({scanned}); {} of them (REPORTED yes) reported to {}, which revoked the valid ones among them; the rest (REPORTED no) were not",
            reported.accepted, reported.server,
        ),
    };
    if n > 0 {
        let cells = |f: &Finding| {
            [
                one_line(&f.source()),
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
    if let Some(unread) = unread_summary(report, args.allow_skipped) {
        stderr_line(&unread);
    }
    if let Some(first) = report.git_folders.first() {
        let n = report.git_folders.len();
        stderr_line(&format!(
            "{n} .git folder{} not looked into ({}{}): scan history with keyward scan --git --repo <its repository>",
            plural(n),
            one_line(first),
            if n > 1 { ", …" } else { "" },
        ));
    }
    Ok(())
}

/// How many paths were not read (or not wholly), named, and what that does to the exit
/// status; `None` when everything was read.
fn unread_summary(report: &ScanReport, allow_skipped: bool) -> Option<String> {
    const NAMED: usize = 10;
    let unread = report.unread_paths();
    if unread.is_empty() {
        return None;
    }
    let mut names = unread
        .iter()
        .take(NAMED)
        .map(|p| one_line(p))
        .collect::<Vec<_>>()
        .join(", ");
    if unread.len() > NAMED {
        names.push_str(&format!(" and {} more", unread.len() - NAMED));
    }
    let consequence = match exit_status(report, allow_skipped) {
        EXIT_NOT_VALID => "",
        0 => " (accepted: --allow-skipped)",
        _ if report.has_errors() => " (exit status 2)",
        _ => " (exit status 2; --allow-skipped accepts what was passed over on purpose)",
    };
    Some(format!(
        "{} path{} not read, or not wholly: {names}{consequence}",
        unread.len(),
        plural(unread.len()),
    ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub(crate) fn finding_json(f: &Finding) -> Value {
    json!({
        "file": f.file,
        "commit": f.commit,
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
pub(crate) fn json_report(report: &ScanReport, reported: Option<&Reported>) -> Value {
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
        "commits_scanned": report.commits_scanned,
        "not_read": report.unread_paths(),
        "git_folders": report.git_folders,
        "complete": !report.has_unread(),
        "reported": reported.is_some_and(|r| r.refused.is_none()),
        "reported_keys": reported.map_or(0, |r| r.accepted),
        "report_error": reported.and_then(|r| r.refused.as_ref()).map(|e| one_line(&format!("{e:#}"))),
    })
}

/// Where a finding is, as the server records it: `file: location` (`commit:file: location`
/// in git history), within the length limit.
fn reported_location(f: &Finding) -> String {
    let location = f.location();
    let text = if location.is_empty() {
        f.source()
    } else {
        format!("{}: {location}", f.source())
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
