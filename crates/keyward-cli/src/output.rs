//! What people and scripts see: key and audit-event tables, key/value listings, the
//! once-only display of a new key, the server's JSON re-indented without reordering
//! anything, and the lines on stderr (errors, warnings, "more follow").

use std::io::{self, ErrorKind, Write};

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{presets, ContentArrangement, Table};
use keyward_api::{AuditEvent, CreatedKey, Key};
use keyward_client::Reply;

/// Writes `text` (and a final newline) to stdout. A closed pipe (`keyward keys list | head`)
/// is not an error.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    still_read(written).map(drop)
}

/// The outcome of a write to stdout: `Ok(false)` when the pipe was closed because the reader
/// has all it wants (`… | head`), which is not an error.
pub(crate) fn still_read(written: io::Result<()>) -> Result<bool> {
    match written {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(err).context("cannot write to stdout"),
    }
}

/// Prints a reply: with `--json` the server's JSON as it sent it (only re-indented),
/// otherwise `human(value)`.
pub(crate) fn print<T>(
    reply: &Reply<T>,
    json: bool,
    human: impl FnOnce(&T) -> String,
) -> Result<()> {
    if json {
        emit(&pretty_json(&reply.raw))
    } else {
        emit(&human(&reply.value))
    }
}

/// Prints one page of a listing like [`print`]; for people, when `next_cursor` says more
/// follow, adds `more(next_cursor)` on stderr, so stdout holds only the table.
pub(crate) fn print_page<T>(
    reply: &Reply<T>,
    json: bool,
    table: impl FnOnce(&T) -> String,
    next_cursor: Option<&str>,
    more: impl FnOnce(&str) -> String,
) -> Result<()> {
    print(reply, json, table)?;
    if let (false, Some(next)) = (json, next_cursor) {
        eprintln!("{}", more(&one_line(next)));
    }
    Ok(())
}

/// The warning that the root key is about to cross the network unencrypted.
pub(crate) fn warn_clear_text(url: &str) {
    eprintln!(
        "warning: {url} is plain http to another machine: the root key crosses the network unencrypted; use https"
    );
}

/// Writes `line` to stderr, for people (notes, summaries, prompts), whatever stdout holds. If
/// stderr itself is gone there is nowhere left to write to.
pub(crate) fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// A body copied to stdout piece by piece as it arrives (`audit export`), holding stdout
/// for the whole copy.
pub(crate) struct Stream(io::StdoutLock<'static>);

impl Stream {
    pub(crate) fn stdout() -> Self {
        Self(io::stdout().lock())
    }

    /// Writes `piece`; `Ok(false)` when the reader has gone (`… | head`), which is not an
    /// error.
    pub(crate) fn write(&mut self, piece: &[u8]) -> Result<bool> {
        still_read(self.0.write_all(piece))
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        still_read(self.0.flush()).map(drop)
    }
}

/// Reports `message` as one line on stderr. If stderr itself is gone there is nowhere left
/// to report to.
pub(crate) fn error_line(message: &str) {
    let _ = writeln!(io::stderr(), "error: {}", one_line(message));
}

/// Text from the server made safe for one terminal line: line breaks become spaces and
/// other control characters (which could drive the terminal) become `�`.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Pretty-prints valid JSON text the way `serde_json::to_string_pretty` does, but keeps the
/// server's field order and number spelling: only whitespace outside strings changes.
pub(crate) fn pretty_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                match chars.next_if(|&next| next == '}' || next == ']') {
                    Some(close) => out.push(close),
                    None => {
                        depth += 1;
                        newline(&mut out, depth);
                    }
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Rows as an aligned table without borders, one row a line, under `header`.
pub(crate) fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt()
}

/// Keys as a [`table`].
pub(crate) fn key_table(keys: &[Key]) -> String {
    if keys.is_empty() {
        return "No keys.".to_owned();
    }
    let header = [
        "ID",
        "NAME",
        "START",
        "STATUS",
        "OWNER",
        "PERMISSIONS",
        "EXPIRES",
    ];
    table(
        header,
        keys.iter().map(|key| {
            [
                one_line(&key.id),
                one_line(&key.name),
                one_line(&key.start),
                one_line(key.status.as_str()),
                optional(&key.owner_id),
                permissions(&key.permissions),
                expires(key.expires_at),
            ]
        }),
    )
}

/// Audit events as a [`table`], in the order given.
pub(crate) fn audit_table(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "No events.".to_owned();
    }
    let header = [
        "SEQ", "TIME", "KIND", "KEY NAME", "ACTION", "RESOURCE", "OUTCOME", "IP",
    ];
    table(
        header,
        events.iter().map(|event| {
            [
                event.seq.to_string(),
                event_time(&event.time),
                one_line(event.kind.as_str()),
                optional(&event.key_name),
                optional(&event.action),
                optional(&event.resource),
                one_line(event.outcome.as_str()),
                optional(&event.ip),
            ]
        }),
    )
}

/// An optional text from the server, `-` when absent.
fn optional(value: &Option<String>) -> String {
    value.as_deref().map_or_else(|| "-".to_owned(), one_line)
}

/// An event's time to the second, like the key listings; as sent if it does not parse.
fn event_time(raw: &str) -> String {
    DateTime::parse_from_rfc3339(raw)
        .map_or_else(|_| one_line(raw), |at| time(at.with_timezone(&Utc)))
}

/// One key as a `label  value` listing.
pub(crate) fn key_fields(key: &Key) -> String {
    let mut fields = vec![
        ("id", one_line(&key.id)),
        ("name", one_line(&key.name)),
        ("description", optional(&key.description)),
        ("owner", optional(&key.owner_id)),
        ("start", one_line(&key.start)),
        ("status", one_line(key.status.as_str())),
        ("enabled", if key.enabled { "yes" } else { "no" }.to_owned()),
        ("permissions", permissions(&key.permissions)),
        ("expires", expires(key.expires_at)),
        ("ip allowlist", allowlist(&key.ip_allowlist)),
        ("origins", allowlist(&key.origin_allowlist)),
        ("credits", credits(key)),
        (
            "rate limit",
            key.rate_limit.map_or_else(
                || "none".to_owned(),
                |r| format!("{} per {}s", r.limit, r.window_seconds),
            ),
        ),
        (
            "metadata",
            if key.metadata.is_empty() {
                "-".to_owned()
            } else {
                one_line(&serde_json::Value::Object(key.metadata.clone()).to_string())
            },
        ),
        ("created", time(key.created_at)),
        ("updated", time(key.updated_at)),
    ];
    if let Some(revoked_at) = key.revoked_at {
        fields.push(("revoked", time(revoked_at)));
    }
    if let Some(reason) = &key.revoked_reason {
        fields.push(("revoked reason", one_line(reason)));
    }
    if let Some(replaced_by) = &key.replaced_by {
        fields.push(("replaced by", one_line(replaced_by)));
    }
    fields.push(("workspace", one_line(&key.workspace_id)));
    for item in key.advice.iter().flatten() {
        fields.push((
            "advice",
            advice_line(item.severity.as_str(), item.code.as_str(), &item.message),
        ));
    }
    if key.imported {
        fields.push(("imported", "yes, issued by another system".to_owned()));
        if key.revoked_at.is_none() && key.replaced_by.is_none() {
            // An imported key has no prefix or checksum: scanners cannot find it if it leaks.
            fields.push((
                "advice",
                format!(
                    "rotate it to a keyward key, which leak scanners recognise: keyward keys rotate {} --grace-period <seconds>",
                    one_line(&key.id)
                ),
            ));
        }
    }
    listing(&fields)
}

/// One advice item on one line: `warning  shared_key: …`.
pub(crate) fn advice_line(severity: &str, code: &str, message: &str) -> String {
    format!(
        "{:<8} {}: {}",
        one_line(severity),
        one_line(code),
        one_line(message)
    )
}

/// A new key: `intro`, then the plaintext, set apart, with the warning that it is shown
/// only this once, then the key's details.
pub(crate) fn created_key(created: &CreatedKey, intro: &str) -> String {
    format!(
        "{intro}\n\n    {}\n\nCopy this key now and store it somewhere safe: it will not be shown again.\n\n{}",
        one_line(&created.key),
        key_fields(&created.record)
    )
}

fn listing(fields: &[(&str, String)]) -> String {
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    fields
        .iter()
        .map(|(label, value)| format!("{label:<width$}  {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn permissions(permissions: &[String]) -> String {
    if permissions.is_empty() {
        "(none)".to_owned()
    } else {
        one_line(&permissions.join(", "))
    }
}

fn allowlist(entries: &[String]) -> String {
    if entries.is_empty() {
        "any".to_owned()
    } else {
        one_line(&entries.join(", "))
    }
}

fn credits(key: &Key) -> String {
    let Some(c) = &key.credits else {
        return "unlimited".to_owned();
    };
    match (&c.refill, c.next_refill_at) {
        (Some(r), Some(next)) => format!(
            "{} left; reset to {} every {}s (next {})",
            c.remaining,
            r.amount,
            r.interval_seconds,
            time(next)
        ),
        _ => format!("{} left", c.remaining),
    }
}

fn expires(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_owned(), time)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn key(id: &str, name: &str) -> Key {
        serde_json::from_value(json!({
            "id": id,
            "workspace_id": "ws_1",
            "name": name,
            "description": null,
            "owner_id": null,
            "start": "bos_5Qm2",
            "permissions": [],
            "status": "active",
            "enabled": true,
            "expires_at": null,
            "metadata": {},
            "created_at": "2025-01-02T03:04:05Z",
            "updated_at": "2025-01-02T03:04:05Z",
            "revoked_at": null,
            "revoked_reason": null,
            "replaced_by": null
        }))
        .unwrap()
    }

    #[test]
    fn table_columns_line_up() {
        let mut long = key("key_0002", "Payroll export to Xero");
        long.owner_id = Some("cus_42".into());
        long.permissions = vec!["payroll:read".into(), "payroll:export".into()];
        long.expires_at = Some("2026-01-31T00:00:00Z".parse().unwrap());
        let table = key_table(&[key("key_1", "Stripe"), long]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("ID"), "{table}");
        for column in ["NAME", "START", "STATUS", "OWNER", "PERMISSIONS", "EXPIRES"] {
            let at = lines[0].find(column).unwrap();
            for line in &lines[1..] {
                let before = line.chars().nth(at - 1).unwrap();
                let cell = line.chars().nth(at).unwrap();
                assert_eq!(before, ' ', "column {column} in {table}");
                assert_ne!(cell, ' ', "column {column} in {table}");
            }
        }
        assert!(lines[2].contains("payroll:read, payroll:export"));
        assert!(lines[2].ends_with("2026-01-31T00:00:00Z"));
        assert!(lines[1].ends_with("never"));
        assert!(table.lines().all(|line| line == line.trim()), "{table:?}");
    }

    fn event(seq: i64, kind: &str, key_name: Option<&str>, action: Option<&str>) -> AuditEvent {
        serde_json::from_value(json!({
            "id": format!("ev_{seq}"),
            "workspace_id": "ws_1",
            "seq": seq,
            "time": "2026-03-10T12:34:56.789Z",
            "kind": kind,
            "actor_id": "rk_1",
            "actor_name": "Initial root key",
            "key_id": key_name.map(|_| "key_1"),
            "key_name": key_name,
            "action": action,
            "resource": action.map(|_| "INV-1"),
            "outcome": if action.is_some() { "VALID" } else { "OK" },
            "ip": action.map(|_| "203.0.113.7"),
            "origin": null,
            "user_agent": null,
            "detail": null,
            "prev_hash": "00",
            "hash": "11"
        }))
        .unwrap()
    }

    #[test]
    fn audit_table_has_one_aligned_line_per_event() {
        let events = [
            event(
                12,
                "key.verified",
                Some("Stripe Invoice Sending Integration"),
                Some("invoices.delete"),
            ),
            event(3, "key.created", Some("Stripe\nInvoice"), None),
            event(1, "workspace.created", None, None),
        ];
        let table = audit_table(&events);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("SEQ"), "{table}");
        for column in [
            "TIME", "KIND", "KEY NAME", "ACTION", "RESOURCE", "OUTCOME", "IP",
        ] {
            let at = lines[0].find(column).unwrap();
            for line in &lines[1..] {
                assert_eq!(line.chars().nth(at - 1), Some(' '), "{column} in {table}");
                assert_ne!(line.chars().nth(at), Some(' '), "{column} in {table}");
            }
        }
        // Cells are separated by at least two spaces; values hold single spaces at most.
        let cells = |line: &str| -> Vec<String> {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            cells(lines[1]),
            [
                "12",
                "2026-03-10T12:34:56Z",
                "key.verified",
                "Stripe Invoice Sending Integration",
                "invoices.delete",
                "INV-1",
                "VALID",
                "203.0.113.7"
            ]
        );
        assert_eq!(
            cells(lines[2]),
            [
                "3",
                "2026-03-10T12:34:56Z",
                "key.created",
                "Stripe Invoice",
                "-",
                "-",
                "OK",
                "-"
            ],
            "names stay on one line"
        );
        assert_eq!(
            cells(lines[3]),
            [
                "1",
                "2026-03-10T12:34:56Z",
                "workspace.created",
                "-",
                "-",
                "-",
                "OK",
                "-"
            ]
        );
    }

    #[test]
    fn empty_audit_says_so_and_odd_times_are_shown_as_sent() {
        assert_eq!(audit_table(&[]), "No events.");
        assert_eq!(event_time("not a time\u{1b}"), "not a time\u{fffd}");
    }

    #[test]
    fn empty_list_says_so() {
        assert_eq!(key_table(&[]), "No keys.");
    }

    #[test]
    fn fields_are_aligned_and_optional_ones_appear_when_set() {
        let mut revoked = key("key_1", "Stripe");
        let text = key_fields(&revoked);
        assert!(text.contains("\nname          Stripe\n"), "{text}");
        assert!(text.contains("\ndescription   -\n"), "{text}");
        assert!(text.contains("\npermissions   (none)\n"), "{text}");
        assert!(text.contains("\nip allowlist  any\n"), "{text}");
        assert!(text.contains("\ncredits       unlimited\n"), "{text}");
        assert!(text.contains("\nrate limit    none\n"), "{text}");
        assert!(!text.contains("revoked"), "{text}");
        revoked.revoked_at = Some("2025-02-01T00:00:00Z".parse().unwrap());
        revoked.revoked_reason = Some("leaked\nin a doc".into());
        revoked.metadata = json!({"team": "billing"}).as_object().unwrap().clone();
        revoked.rate_limit = Some(keyward_api::RateLimitSpec {
            limit: 10,
            window_seconds: 60,
        });
        revoked.ip_allowlist = vec!["10.0.0.0/8".into(), "::1/128".into()];
        revoked.credits = Some(keyward_api::CreditsView {
            remaining: 3,
            refill: Some(keyward_api::RefillSpec {
                amount: 10,
                interval_seconds: 3600,
            }),
            next_refill_at: Some("2025-02-01T01:00:00Z".parse().unwrap()),
        });
        let text = key_fields(&revoked);
        assert!(text.contains("rate limit      10 per 60s\n"), "{text}");
        assert!(
            text.contains("ip allowlist    10.0.0.0/8, ::1/128\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "credits         3 left; reset to 10 every 3600s (next 2025-02-01T01:00:00Z)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nrevoked reason  leaked in a doc\n"),
            "{text}"
        );
        assert!(
            text.contains(r#"metadata        {"team":"billing"}"#),
            "{text}"
        );
    }

    #[test]
    fn new_key_is_shown_with_the_warning() {
        let created = CreatedKey {
            key: "bos_plaintextsecret".into(),
            record: key("key_1", "Stripe"),
        };
        let text = created_key(&created, "Created key \"Stripe\" (key_1).");
        assert_eq!(text.matches("bos_plaintextsecret").count(), 1);
        assert!(text.contains("\n    bos_plaintextsecret\n"));
        assert!(text.contains("will not be shown again"));
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(one_line("a\nb\tc\u{1b}[31m"), "a b c\u{fffd}[31m");
    }

    #[test]
    fn pretty_json_matches_serde_layout() {
        let value = json!({
            "a": [1, 2.5, {"b": null}],
            "c": {},
            "d": [],
            "e": "x: {y}, [z] \" \\",
            "f": {"g": true}
        });
        let compact = value.to_string();
        let expected = serde_json::to_string_pretty(&value).unwrap();
        assert_eq!(pretty_json(&compact), expected);
        assert_eq!(pretty_json(&expected), expected);
    }

    #[test]
    fn pretty_json_keeps_the_servers_order() {
        let pretty = pretty_json(r#"{"valid":false,"code":"REVOKED","key_id":"key_1"}"#);
        assert_eq!(
            pretty,
            "{\n  \"valid\": false,\n  \"code\": \"REVOKED\",\n  \"key_id\": \"key_1\"\n}"
        );
        let parsed: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(parsed["code"], "REVOKED");
    }
}
