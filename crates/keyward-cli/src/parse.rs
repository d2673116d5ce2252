//! Turning command-line text into request values: lists, rate limits, metadata objects,
//! timestamps, ids, and a key read from stdin. Every error names what was expected.

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Duration, Utc};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use keyward_api::KeyStatus;
use serde_json::{Map, Value};

/// Repeatable, comma-separated list flags (`--permission`, `--ip`, `--origin`) as one list:
/// trimmed, without empties or repeats, in the order given. `--ip ""` gives an empty list,
/// which on `update` removes the restriction (or, for `--permission`, every permission).
pub(crate) fn list(flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for permission in flags.iter().flat_map(|flag| flag.split(',')) {
        let permission = permission.trim();
        if !permission.is_empty() && !out.iter().any(|seen| seen == permission) {
            out.push(permission.to_owned());
        }
    }
    out
}

/// `--rate-limit N/S`: at most N verifications per S seconds.
pub(crate) fn rate_limit(raw: &str) -> Result<keyward_api::RateLimitSpec, String> {
    let expected = "expected N/S, e.g. 100/60 for 100 verifications per 60 seconds";
    let (limit, window) = raw.trim().split_once('/').ok_or(expected)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| expected.to_owned());
    Ok(keyward_api::RateLimitSpec {
        limit: number(limit)?,
        window_seconds: number(window)?,
    })
}

/// `--metadata`: a JSON object.
pub(crate) fn metadata(raw: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(r#"expected a JSON object, e.g. '{"team":"billing"}'"#.to_owned()),
        Err(err) => Err(format!(
            r#"not valid JSON ({err}); expected an object, e.g. '{{"team":"billing"}}'"#
        )),
    }
}

/// `--status`: one of the key statuses this version knows, spelled as on the wire (`--help`
/// lists them).
pub(crate) fn key_status() -> impl TypedValueParser<Value = KeyStatus> {
    PossibleValuesParser::new(KeyStatus::KNOWN.iter().map(KeyStatus::as_str))
        .map(|status| KeyStatus::from(status.as_str()))
}

/// `--expires-at`: an RFC 3339 timestamp.
pub(crate) fn timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| format!("{err}: expected an RFC 3339 time such as 2026-01-31T00:00:00Z"))
}

/// `--since`/`--until`: an RFC 3339 timestamp, or a time ago such as `30m`, `24h` or `7d`.
pub(crate) fn point_in_time(raw: &str) -> Result<DateTime<Utc>, String> {
    point_in_time_at(raw, Utc::now())
}

/// [`point_in_time`] with "now" given, so it can be tested.
pub(crate) fn point_in_time_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&Utc));
    }
    let expected = || {
        format!(
            "{raw:?} is not a time: expected RFC 3339 (2026-01-31T00:00:00Z) or a time ago \
             (90s, 30m, 24h, 7d)"
        )
    };
    let (unit_at, _) = raw.char_indices().last().ok_or_else(expected)?;
    let (count, unit) = raw.split_at(unit_at);
    let count: i64 = count
        .parse()
        .ok()
        .filter(|count| *count >= 0)
        .ok_or_else(expected)?;
    let ago = match unit {
        "s" => Duration::try_seconds(count),
        "m" => Duration::try_minutes(count),
        "h" => Duration::try_hours(count),
        "d" => Duration::try_days(count),
        _ => None,
    }
    .ok_or_else(expected)?;
    now.checked_sub_signed(ago).ok_or_else(expected)
}

/// `--outcome`: a verify code or `OK`, in any case (`valid` means `VALID`).
pub(crate) fn outcome(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Err("expected a verify code such as VALID or REVOKED, or OK".to_owned());
    }
    Ok(code)
}

/// `--kind`: an event kind such as `key.created`, in any case.
pub(crate) fn kind(raw: &str) -> Result<String, String> {
    let kind = raw.trim().to_ascii_lowercase();
    if kind.is_empty() {
        return Err("expected an event kind such as key.verified or key.created".to_owned());
    }
    Ok(kind)
}

/// A key id on the command line: not blank.
pub(crate) fn id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("a key id cannot be empty".to_owned());
    }
    Ok(id.to_owned())
}

/// `--description ""` and `--owner ""` on `update` clear the field.
pub(crate) fn clearable(value: Option<String>) -> Option<Option<String>> {
    value.map(|value| Some(value).filter(|value| !value.trim().is_empty()))
}

/// The key given on stdin: one token, surrounding whitespace ignored. Errors never echo
/// what was read, since it may be a secret.
pub(crate) fn key_from_stdin(text: &str) -> Result<String> {
    let key = text.trim();
    if key.is_empty() {
        bail!("no key on stdin: pipe the key in, e.g. `printf '%s' \"$KEY\" | keyward verify -`");
    }
    if key.split_whitespace().nth(1).is_some() {
        bail!("expected one key on stdin, found several words or lines");
    }
    Ok(key.to_owned())
}

/// The key given as an argument (not `-`): surrounding whitespace ignored.
pub(crate) fn key_argument(raw: &str) -> Result<String> {
    let key = raw.trim();
    if key.is_empty() {
        return Err(anyhow!("the key to verify is empty"));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn lists_split_on_commas_and_repeat() {
        let flags = strings(&[
            "invoices:read,invoices:write",
            " payroll:* ",
            "invoices:read",
            ",,",
        ]);
        assert_eq!(
            list(&flags),
            strings(&["invoices:read", "invoices:write", "payroll:*"])
        );
        assert!(list(&[]).is_empty());
        assert!(list(&strings(&[""])).is_empty());
    }

    #[test]
    fn rate_limits_are_n_per_s() {
        let r = rate_limit(" 100/60 ").unwrap();
        assert_eq!((r.limit, r.window_seconds), (100, 60));
        assert!(rate_limit("100").is_err());
        assert!(rate_limit("a/60").is_err());
        assert!(rate_limit("100/-1").is_err());
    }

    #[test]
    fn metadata_must_be_an_object() {
        let map = metadata(r#"{"team":"billing","tier":2}"#).unwrap();
        assert_eq!(map.get("team"), Some(&Value::from("billing")));
        assert_eq!(map.get("tier"), Some(&Value::from(2)));
        assert!(metadata("[1,2]").unwrap_err().contains("JSON object"));
        assert!(metadata("\"x\"").is_err());
        assert!(metadata("{team: billing}")
            .unwrap_err()
            .starts_with("not valid JSON"));
    }

    #[test]
    fn timestamps_are_rfc3339_in_any_offset() {
        let time = timestamp("2026-01-31T02:00:00+02:00").unwrap();
        assert_eq!(time.to_rfc3339(), "2026-01-31T00:00:00+00:00");
        assert!(timestamp("2026-01-31").unwrap_err().contains("RFC 3339"));
        assert!(timestamp("tomorrow").is_err());
    }

    #[test]
    fn points_in_time_are_rfc3339_or_a_time_ago() {
        let now = timestamp("2026-03-10T12:00:00Z").unwrap();
        let at = |raw: &str| point_in_time_at(raw, now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2026-01-31T02:00:00+02:00").unwrap(),
            "2026-01-31T00:00:00+00:00"
        );
        assert_eq!(at("90s").unwrap(), "2026-03-10T11:58:30+00:00");
        assert_eq!(at("30m").unwrap(), "2026-03-10T11:30:00+00:00");
        assert_eq!(at(" 24h ").unwrap(), "2026-03-09T12:00:00+00:00");
        assert_eq!(at("7d").unwrap(), "2026-03-03T12:00:00+00:00");
        assert_eq!(at("0s").unwrap(), "2026-03-10T12:00:00+00:00");
        for bad in [
            "",
            "d",
            "7",
            "7w",
            "-1d",
            "1.5h",
            "yesterday",
            "2026-01-31",
            "99999999999999d",
            "7é",
            "é",
        ] {
            let err = at(bad).unwrap_err();
            assert!(
                err.contains("RFC 3339") && err.contains("24h"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn outcomes_and_kinds_are_normalised() {
        assert_eq!(outcome(" valid ").unwrap(), "VALID");
        assert_eq!(
            outcome("Insufficient_Permissions").unwrap(),
            "INSUFFICIENT_PERMISSIONS"
        );
        assert!(outcome(" ").is_err());
        assert_eq!(kind("Key.Created").unwrap(), "key.created");
        assert!(kind("").is_err());
    }

    #[test]
    fn empty_strings_clear_on_update() {
        assert_eq!(clearable(None), None);
        assert_eq!(clearable(Some(String::new())), Some(None));
        assert_eq!(clearable(Some("x".into())), Some(Some("x".into())));
    }

    #[test]
    fn ids_are_trimmed_and_not_blank() {
        assert_eq!(id(" key_1 ").unwrap(), "key_1");
        assert!(id("  ").is_err());
    }

    #[test]
    fn stdin_holds_exactly_one_key_and_errors_do_not_echo_it() {
        assert_eq!(key_from_stdin("bos_abc123\n").unwrap(), "bos_abc123");
        assert!(key_from_stdin("\n").is_err());
        let err = key_from_stdin("bos_secret1\nbos_secret2\n").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert!(key_argument(" ").is_err());
        assert_eq!(key_argument("bos_x").unwrap(), "bos_x");
    }
}
