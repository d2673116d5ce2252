//! `keyward audit …`: query the audit trail (a table, or the server's JSON), export it as
//! NDJSON for SIEM tools, and have the server recompute its hash chain.

use std::process::ExitCode;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use keyward_api::{AuditKind, AuditList, AuditOutcome, AuditQuery, ChainCheck, ChainStatus};
use keyward_client::{Client, Reply};

use crate::args::ClientArgs;
use crate::connect::{self, Explained};
use crate::exit::{fail, EXIT_NOT_VALID};
use crate::output::{self, audit_table, emit, one_line, Stream};
use crate::parse;

/// Show audit events, newest first; or export them, or check the chain.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub filters: AuditFilters,
    /// Events per page (1-1000; the server's default is 100)
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Start from this page (the `next_cursor` of the previous one)
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Print every matching event as one JSON object a line (NDJSON), newest first
    Export {
        #[command(flatten)]
        filters: AuditFilters,
    },
    /// Check the hash chain (a long one from its signed verified prefix) and compare the
    /// stored keys with it: exit 0 if it is intact, 1 if it is broken or still being
    /// verified in the background (pending)
    Verify {
        /// Also prove the chain still extends this signed anchor (a file written by
        /// `keyward audit anchor`, or an anchor log, whose last line is used)
        #[arg(long, value_name = "FILE", conflicts_with = "full")]
        anchor: Option<PathBuf>,
        /// Also have the server verify the whole chain again from the start, in the
        /// background (ask again to see its progress)
        #[arg(long)]
        full: bool,
    },
    /// Have the server sign the chain's head now and print the signed anchor (one JSON line):
    /// keep it where the database's writers cannot reach it
    Anchor,
}

/// Which events to show; every filter given must match.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilters {
    /// Only events about this key (its id)
    #[arg(long = "key", value_name = "ID", value_parser = parse::id)]
    pub key: Option<String>,
    /// Only events of this kind: key.verified, key.created, key.updated, key.revoked,
    /// key.rotated, root_key.created, root_key.revoked, workspace.created, workspace.updated
    #[arg(long, value_name = "KIND", value_parser = parse::kind)]
    pub kind: Option<String>,
    /// Only verifications of this action, as the calling service passed it (e.g.
    /// invoices.delete)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Only events with this outcome: a verify code (VALID, REVOKED, …), or OK for
    /// management events
    #[arg(long, value_name = "CODE", value_parser = parse::outcome)]
    pub outcome: Option<String>,
    /// Only events at or after this time (RFC 3339, or a time ago: 30m, 24h, 7d)
    #[arg(long, value_name = "TIME", value_parser = parse::point_in_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339, or a time ago: 30m, 24h, 7d)
    #[arg(long, value_name = "TIME", value_parser = parse::point_in_time)]
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilters {
    /// The query of `GET /v1/audit` and `/v1/audit/export`: only the filters given. A kind
    /// or outcome this version does not know goes out as typed; the server judges it.
    fn query(&self) -> AuditQuery {
        AuditQuery {
            key_id: self.key.clone(),
            kind: self.kind.as_deref().map(AuditKind::from),
            action: self.action.clone(),
            outcome: self.outcome.as_deref().map(AuditOutcome::from),
            since: self.since,
            until: self.until,
            limit: None,
            cursor: None,
        }
    }
}

/// Runs `audit`, `audit export` or `audit verify`. Exit status 0 when done (for `verify`:
/// the chain is intact), 1 when `verify` finds the chain broken, 2 on any error.
pub async fn run_audit(client: &ClientArgs, args: AuditArgs) -> ExitCode {
    match audit(client, args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_NOT_VALID),
        Err(err) => fail(&err),
    }
}

/// Returns false only for a broken chain.
async fn audit(args: &ClientArgs, audit: AuditArgs) -> Result<bool> {
    check_placement(&audit)?;
    let client = connect::client(args)?;
    match audit.command {
        None => {
            list(
                &client,
                args.json,
                &audit.filters,
                audit.limit,
                audit.cursor,
            )
            .await?;
            Ok(true)
        }
        Some(AuditCommand::Export { filters }) => {
            export(&client, &filters).await?;
            Ok(true)
        }
        Some(AuditCommand::Verify { anchor, full }) => {
            verify_chain(&client, args.json, anchor.as_deref(), full).await
        }
        Some(AuditCommand::Anchor) => {
            let reply = client.anchor().await.explained()?;
            // Exactly as signed, one line, whatever --json says: the file is the anchor.
            emit(reply.raw.trim()).map(|()| true)
        }
    }
}

/// `keyward audit --action x export` would export everything: the filters before a
/// subcommand belong to the listing, so they are refused there rather than ignored. (clap's
/// `args_conflicts_with_subcommands` would also refuse `audit --json verify`.)
fn check_placement(audit: &AuditArgs) -> Result<()> {
    let listing_flags =
        audit.filters != AuditFilters::default() || audit.limit.is_some() || audit.cursor.is_some();
    match &audit.command {
        Some(AuditCommand::Export { .. }) if listing_flags => bail!(
            "put the filters after `export`, e.g. `keyward audit export --action invoices.delete` (--limit and --cursor are for listing)"
        ),
        Some(AuditCommand::Verify { .. } | AuditCommand::Anchor) if listing_flags => {
            bail!("`keyward audit verify` and `anchor` take the whole chain and no filters")
        }
        _ => Ok(()),
    }
}

async fn list(
    client: &Client,
    json: bool,
    filters: &AuditFilters,
    limit: Option<u32>,
    cursor: Option<String>,
) -> Result<()> {
    let query = AuditQuery {
        limit,
        cursor,
        ..filters.query()
    };
    let reply: Reply<AuditList> = client.audit(&query).await.explained()?;
    output::print_page(
        &reply,
        json,
        |page| audit_table(&page.events),
        reply.value.next_cursor.as_deref(),
        |next| {
            format!("More events follow: add --cursor {next} for the next page, or use `keyward audit export` for all of them.")
        },
    )
}

/// Copies the server's NDJSON to stdout as it arrives, without holding it all in memory.
async fn export(client: &Client, filters: &AuditFilters) -> Result<()> {
    let mut export = client.export_audit(&filters.query()).await.explained()?;
    let mut out = Stream::stdout();
    while let Some(chunk) = export.next_chunk().await.explained()? {
        if !out.write(&chunk)? {
            return Ok(());
        }
    }
    out.finish()
}

async fn verify_chain(
    client: &Client,
    json: bool,
    anchor: Option<&Path>,
    full: bool,
) -> Result<bool> {
    let reply: Reply<ChainCheck> = match anchor {
        None if full => client.check_chain_full().await.explained()?,
        None => client.check_chain().await.explained()?,
        Some(path) => {
            let anchor = read_anchor(path)?;
            client
                .check_chain_against_anchor(&anchor)
                .await
                .explained()?
        }
    };
    output::print(&reply, json, describe_chain)?;
    Ok(reply.value.valid)
}

/// The anchor in `path`: its last non-empty line (a file of one anchor, or an anchor log).
fn read_anchor(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the anchor file {}", path.display()))?;
    let line = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .with_context(|| format!("the anchor file {} is empty", path.display()))?;
    serde_json::from_str(line)
        .with_context(|| format!("the anchor file {} does not hold JSON", path.display()))
}

/// `chain intact: N events`, `chain broken at seq N: reason` or `chain verification
/// pending: …`, and the background's whole re-verification if there is one.
fn describe_chain(check: &ChainCheck) -> String {
    let mut text = describe_result(check);
    if let Some(full) = &check.full_check {
        let state = match full.valid {
            None => format!("running, {} of {} events checked", full.checked, full.total),
            Some(true) => format!("finished, {} events intact", full.checked),
            Some(false) => "finished, it found a break".to_owned(),
        };
        text.push_str(&format!(
            "\nwhole re-verification started {}: {state}",
            full.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    text
}

fn describe_result(check: &ChainCheck) -> String {
    let plural = |n: u64| if n == 1 { "event" } else { "events" };
    if check.status == Some(ChainStatus::Pending) {
        return format!(
            "chain verification pending: verified through seq {} of {}; {} {} left, being \
             verified in the background (ask again later)",
            check.verified_seq.unwrap_or(0),
            check.head_seq.unwrap_or(0),
            check.unverified_events,
            plural(check.unverified_events)
        );
    }
    if check.valid {
        let mut line = match (check.resumed_from_seq, check.head_seq) {
            (Some(prefix), Some(head)) => format!(
                "chain intact through seq {head}: {} {} checked now, after the signed \
                 verified prefix at seq {prefix}",
                check.events,
                plural(check.events)
            ),
            _ => format!("chain intact: {} {}", check.events, plural(check.events)),
        };
        if let Some(cut) = check.checkpoint_seq {
            line.push_str(&format!(
                " (checked from the retention checkpoint at seq {cut}; older verifications were pruned)"
            ));
        }
        if let Some(anchor) = check.anchor_seq {
            line.push_str(&format!("; it extends the signed anchor at seq {anchor}"));
        }
        if let Some(note) = &check.anchor_note {
            line.push_str(&format!(" ({note})"));
        }
        return line;
    }
    if check.first_bad_seq.is_none() && !check.unexplained.is_empty() {
        let mut text = "chain intact, but stored state it does not explain:".to_owned();
        for record in &check.unexplained {
            text.push_str(&format!(
                "\n  {}: {}",
                one_line(&record.id),
                one_line(&record.reason)
            ));
        }
        return text;
    }
    let at = check
        .first_bad_seq
        .map_or_else(|| "an unknown seq".to_owned(), |seq| format!("seq {seq}"));
    let reason = check
        .reason
        .as_deref()
        .map_or_else(|| "no reason given".to_owned(), one_line);
    format!("chain broken at {at}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::timestamp;
    use clap::{CommandFactory, Parser};

    /// The shape of the binary's `audit` command: client options and `AuditArgs` flattened.
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        audit: AuditArgs,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("audit").chain(args.iter().copied()))
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn filters_become_the_query_in_a_fixed_order() {
        let cli = parse(&[
            "--until",
            "2026-02-01T00:00:00+01:00",
            "--outcome",
            "valid",
            "--action",
            "invoices.delete",
            "--kind",
            "Key.Verified",
            "--key",
            " key_1 ",
            "--since",
            "2026-01-01T00:00:00Z",
            "--limit",
            "20",
            "--cursor",
            "42",
        ])
        .unwrap();
        assert!(cli.audit.command.is_none());
        assert_eq!(cli.audit.limit, Some(20));
        assert_eq!(cli.audit.cursor.as_deref(), Some("42"));
        assert_eq!(
            cli.audit.filters.query().pairs(),
            [
                ("key_id", "key_1".to_owned()),
                ("kind", "key.verified".to_owned()),
                ("action", "invoices.delete".to_owned()),
                ("outcome", "VALID".to_owned()),
                ("since", "2026-01-01T00:00:00.000Z".to_owned()),
                ("until", "2026-01-31T23:00:00.000Z".to_owned()),
            ]
        );
        assert!(AuditFilters::default().query().pairs().is_empty());
    }

    #[test]
    fn export_takes_the_same_filters() {
        let cli = parse(&["export", "--action", "invoices.delete", "--since", "24h"]).unwrap();
        let Some(AuditCommand::Export { filters }) = cli.audit.command else {
            unreachable!("parsed {cli:?}")
        };
        assert_eq!(filters.action.as_deref(), Some("invoices.delete"));
        assert!(filters.since.is_some_and(|since| since < Utc::now()));
        assert_eq!(cli.audit.filters, AuditFilters::default());
    }

    #[test]
    fn client_options_work_before_and_after_the_subcommand() {
        let cli = parse(&["verify", "--json"]).unwrap();
        assert!(cli.client.json);
        assert!(matches!(
            cli.audit.command,
            Some(AuditCommand::Verify {
                anchor: None,
                full: false
            })
        ));
        let cli = parse(&["--json", "--url", "http://127.0.0.1:9", "verify"]).unwrap();
        assert!(cli.client.json);
        assert_eq!(cli.client.url, "http://127.0.0.1:9");
        assert!(matches!(
            cli.audit.command,
            Some(AuditCommand::Verify {
                anchor: None,
                full: false
            })
        ));
        let cli = parse(&["export", "--url", "http://127.0.0.1:9"]).unwrap();
        assert_eq!(cli.client.url, "http://127.0.0.1:9");
    }

    #[test]
    fn filters_before_a_subcommand_are_refused_not_ignored() {
        for args in [
            &["--action", "invoices.delete", "export"][..],
            &["--limit", "5", "export", "--kind", "key.created"],
            &["--since", "24h", "verify"],
            &["--cursor", "9", "verify"],
        ] {
            let cli = parse(args).unwrap();
            assert!(check_placement(&cli.audit).is_err(), "{args:?}");
        }
        for args in [
            &["--action", "invoices.delete", "--limit", "5"][..],
            &["export", "--action", "invoices.delete"],
            &["--json", "verify"],
        ] {
            let cli = parse(args).unwrap();
            assert!(check_placement(&cli.audit).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn bad_flags_are_refused_by_the_parser() {
        assert!(parse(&["verify", "--action", "invoices.delete"]).is_err());
        assert!(parse(&["export", "--limit", "5"]).is_err());
        assert!(parse(&["--since", "yesterday"]).is_err());
        assert!(parse(&["--key", " "]).is_err());
        assert!(parse(&["--outcome", ""]).is_err());
        assert!(parse(&["--limit", "-1"]).is_err());
    }

    fn check(valid: bool, events: u64, first_bad_seq: Option<i64>) -> ChainCheck {
        ChainCheck {
            valid,
            events,
            first_bad_seq,
            reason: first_bad_seq.map(|_| "the event's contents\ndo not match its hash".into()),
            checkpoint_seq: None,
            anchor_seq: None,
            anchor_note: None,
            unexplained: Vec::new(),
            status: None,
            verified_seq: None,
            head_seq: None,
            resumed_from_seq: None,
            unverified_events: 0,
            full_check: None,
        }
    }

    #[test]
    fn chain_results_read_as_one_line() {
        assert_eq!(
            describe_chain(&check(true, 12, None)),
            "chain intact: 12 events"
        );
        assert_eq!(
            describe_chain(&check(true, 1, None)),
            "chain intact: 1 event"
        );
        assert_eq!(
            describe_chain(&check(false, 7, Some(7))),
            "chain broken at seq 7: the event's contents do not match its hash"
        );
        let mut pruned = check(true, 3, None);
        pruned.checkpoint_seq = Some(40);
        assert!(describe_chain(&pruned).starts_with(
            "chain intact: 3 events (checked from the retention checkpoint at seq 40"
        ));
    }

    #[test]
    fn a_pending_check_and_a_prefix_answer_say_how_far_the_chain_is_verified() {
        let mut pending = check(false, 0, None);
        pending.status = Some(ChainStatus::Pending);
        pending.verified_seq = Some(1_000_000);
        pending.head_seq = Some(4_000_000);
        pending.unverified_events = 3_000_000;
        pending.full_check = Some(keyward_api::FullChainCheck {
            running: true,
            checked: 500,
            total: 4_000_000,
            started_at: timestamp("2026-01-31T02:00:00Z").unwrap(),
            finished_at: None,
            valid: None,
        });
        assert_eq!(
            describe_chain(&pending),
            "chain verification pending: verified through seq 1000000 of 4000000; 3000000 \
             events left, being verified in the background (ask again later)\nwhole \
             re-verification started 2026-01-31T02:00:00Z: running, 500 of 4000000 events checked"
        );
        let mut tail = check(true, 12, None);
        tail.head_seq = Some(4_000_012);
        tail.resumed_from_seq = Some(4_000_000);
        assert!(describe_chain(&tail).starts_with("chain intact through seq 4000012: 12 events"));
        assert!(parse(&["verify", "--full", "--anchor", "a.json"]).is_err());
    }

    #[test]
    fn times_are_sent_in_utc_with_milliseconds() {
        let filters = AuditFilters {
            since: Some(timestamp("2026-01-31T02:00:00.5+02:00").unwrap()),
            ..AuditFilters::default()
        };
        assert_eq!(
            filters.query().pairs(),
            [("since", "2026-01-31T00:00:00.500Z".to_owned())]
        );
    }
}
