//! Parsers of request fields that are not domain newtypes, from plain Rust values (so every
//! interface reuses them): lengths, free text, metadata size, times, expiry, allowlists,
//! credits and rate limits. Each answers `AppError::Invalid` with a message naming the field
//! (and an entry's position, never its text).

use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};
use keyward_core::policy::MAX_LIFETIME_SECONDS;
use keyward_core::redact::{redact, Redaction};
use keyward_core::restrictions::{parse_list, RestrictionError};
use keyward_core::{Credits, IpRange, Origin, Permission, RateLimit, Refill};
use serde_json::{Map, Value};
use std::borrow::Cow;

pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_OWNER_ID_CHARS: usize = 200;
pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_PERMISSIONS: usize = 100;

pub fn permissions(raw: &[String]) -> Result<Vec<Permission>, AppError> {
    if raw.len() > MAX_PERMISSIONS {
        return Err(AppError::Invalid(format!(
            "at most {MAX_PERMISSIONS} permissions per key"
        )));
    }
    let mut out: Vec<Permission> = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let p = Permission::parse(text)
            .map_err(|e| AppError::Invalid(format!("permissions[{i}]: {e}")))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// How many lines a field of free text may have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lines {
    /// One line (an owner id, a revocation reason): no control characters at all.
    One,
    /// Paragraphs (a description): newlines, but no other control characters.
    Many,
}

/// A key's description, owner id or revocation reason: trimmed, bounded, no control characters
/// (but newlines where `lines` is [`Lines::Many`]) and no bidirectional controls, which could
/// make a reader of the key or the audit trail see something other than what is stored (a
/// newline forging a line of an export, an override reversing what follows): `400`. Stored
/// with the key (the reason also in its audit event), so a key pasted into one is kept only
/// as its `start…`, like the audit trail's free text.
pub fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
    lines: Lines,
) -> Result<Option<String>, AppError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim().to_owned();
    if value.chars().count() > max {
        return Err(AppError::Invalid(format!(
            "{field} is limited to {max} characters"
        )));
    }
    let plain = match lines {
        Lines::One => keyward_core::text::is_plain_line(&value),
        Lines::Many => value.split('\n').all(keyward_core::text::is_plain_line),
    };
    if !plain {
        return Err(AppError::Invalid(match lines {
            Lines::One => format!(
                "{field} must be one line of text, without control or bidirectional formatting characters"
            ),
            Lines::Many => format!(
                "{field} must be text without control characters other than newlines, and without bidirectional formatting characters"
            ),
        }));
    }
    if value.is_empty() {
        return Ok(None);
    }
    let redacted = match redact(&value, Redaction::ValidKeys) {
        Cow::Owned(redacted) => Some(redacted),
        Cow::Borrowed(_) => None,
    };
    Ok(Some(redacted.unwrap_or(value)))
}

/// Free text a client sends that the audit trail keeps (verify's context fields, a leak
/// report's source and locations), checked the same way everywhere:
/// - one line with no bidirectional controls, so a reader of the trail sees what is stored
///   (a newline could forge a line of an export; an override reverses what follows): `400`;
/// - any key in it (checksum-valid) replaced by its `start…`, so the trail never holds one:
///   a calling service that puts a key in a resource path must not turn the audit trail
///   into a copy of it.
///
/// On verification's hot path: a field that needs nothing changed is not copied, printable
/// ASCII is checked in one branch-free pass, and the key scan probes every 41st byte (see
/// `keyward_core::redact`).
pub fn audit_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, AppError> {
    let Some(value) = value else { return Ok(None) };
    let value = trimmed(value);
    // Bytes bound characters from above, so short text skips counting.
    if value.len() > max && value.chars().count() > max {
        return Err(AppError::Invalid(format!(
            "{field} is limited to {max} characters"
        )));
    }
    if !keyward_core::text::is_plain_line(&value) {
        return Err(AppError::Invalid(format!(
            "{field} must be one line of text, without control or bidirectional formatting characters"
        )));
    }
    if value.is_empty() {
        return Ok(None);
    }
    let redacted = match redact(&value, Redaction::ValidKeys) {
        Cow::Owned(redacted) => Some(redacted),
        Cow::Borrowed(_) => None,
    };
    Ok(Some(redacted.unwrap_or(value)))
}

/// `value` without surrounding white space, in place (no new allocation).
fn trimmed(mut value: String) -> String {
    let end = value.trim_end().len();
    value.truncate(end);
    let start = value.len() - value.trim_start().len();
    if start > 0 {
        value.drain(..start);
    }
    value
}

pub fn metadata(value: Map<String, Value>) -> Result<Map<String, Value>, AppError> {
    let size = serde_json::to_vec(&value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(AppError::Invalid(format!(
            "metadata is limited to {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    Ok(value)
}

pub fn future_expiry(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    match expires_at {
        Some(at) if at <= now => Err(AppError::Invalid("expires_at must be in the future".into())),
        // Stored with millisecond precision; truncate so what we answer is what we keep.
        Some(at) => Ok(DateTime::from_timestamp_millis(at.timestamp_millis())),
        None => Ok(None),
    }
}

/// What the calling service tells verify about the request it is authorising; recorded in the
/// audit trail as given, after the checks of [`audit_text`] (keys in it become their `start…`).
#[derive(Clone)]
pub struct RequestContext {
    action: Option<String>,
    resource: Option<String>,
    pub ip: Option<String>,
    pub origin: Option<String>,
    user_agent: Option<String>,
}

pub const MAX_CONTEXT_CHARS: usize = 512;

impl RequestContext {
    pub fn parse(
        action: Option<String>,
        resource: Option<String>,
        ip: Option<String>,
        origin: Option<String>,
        user_agent: Option<String>,
    ) -> Result<Self, AppError> {
        let field = |name: &str, v: Option<String>| audit_text(name, v, MAX_CONTEXT_CHARS);
        Ok(Self {
            action: field("action", action)?,
            resource: field("resource", resource)?,
            ip: field("ip", ip)?,
            origin: field("origin", origin)?,
            user_agent: field("user_agent", user_agent)?,
        })
    }

    /// The action the calling service named, which chooses the audit level.
    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    pub fn fill(self, event: &mut keyward_core::NewEvent) {
        event.action = self.action;
        event.resource = self.resource;
        event.ip = self.ip;
        event.origin = self.origin;
        event.user_agent = self.user_agent;
    }
}

fn bad(e: impl ToString) -> AppError {
    AppError::Invalid(e.to_string())
}

/// The expiry asked for by `expires_at` or `expires_in` (not both), in the future.
pub fn expiry(
    expires_at: Option<DateTime<Utc>>,
    expires_in: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    match (expires_at, expires_in) {
        (Some(_), Some(_)) => Err(bad("set expires_at or expires_in, not both")),
        (at, None) => future_expiry(at, now),
        (None, Some(seconds)) => {
            if !(1..=MAX_LIFETIME_SECONDS).contains(&seconds) {
                return Err(bad(format!(
                    "expires_in must be 1-{MAX_LIFETIME_SECONDS} seconds"
                )));
            }
            let seconds = i64::try_from(seconds).map_err(bad)?;
            Ok(Some(now + Duration::seconds(seconds)))
        }
    }
}

/// An expiry change: `expires_at` (`Some(None)` removes the expiry) or `expires_in`, not
/// both; `None` leaves the expiry as it is.
pub fn expiry_change(
    expires_at: Option<Option<DateTime<Utc>>>,
    expires_in: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Option<Option<DateTime<Utc>>>, AppError> {
    match (expires_at, expires_in) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(bad("set expires_at or expires_in, not both")),
        (Some(at), None) => Ok(Some(future_expiry(at, now)?)),
        (None, Some(seconds)) => Ok(Some(expiry(None, Some(seconds), now)?)),
    }
}

pub fn ip_allowlist(raw: &[String]) -> Result<Vec<IpRange>, AppError> {
    parse_list(raw, IpRange::parse).map_err(|e| allowlist_error("ip_allowlist", e))
}

pub fn origin_allowlist(raw: &[String]) -> Result<Vec<Origin>, AppError> {
    parse_list(raw, Origin::parse).map_err(|e| allowlist_error("origin_allowlist", e))
}

/// `ip_allowlist[2]: not an IP address …`: the position of the entry, never its text.
fn allowlist_error(field: &str, e: RestrictionError) -> AppError {
    match e {
        RestrictionError::Entry { index, error } => bad(format!("{field}[{index}]: {error}")),
        other => bad(format!("{field}: {other}")),
    }
}

/// A new balance of `remaining` credits, refilled to `amount` every `interval_seconds` when
/// `refill` is given (`(amount, interval_seconds)`), its schedule anchored at `now`.
pub fn credits(
    remaining: u64,
    refill: Option<(u64, u64)>,
    now: DateTime<Utc>,
) -> Result<Credits, AppError> {
    let refill = refill
        .map(|(amount, interval_seconds)| Refill::new(amount, interval_seconds))
        .transpose()
        .map_err(|e| bad(format!("credits: {e}")))?;
    Credits::new(remaining, refill, now).map_err(|e| bad(format!("credits: {e}")))
}

pub fn rate_limit(limit: u64, window_seconds: u64) -> Result<RateLimit, AppError> {
    RateLimit::new(limit, window_seconds).map_err(bad)
}

/// A page size: `default` when not given, else within `1..=max`.
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, AppError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(bad(format!("limit must be 1-{max}")));
    }
    Ok(limit)
}

/// The message for a cursor this server did not give out.
pub const BAD_CURSOR: &str = "cursor is not one this server gave out";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_text_trims_refuses_and_redacts() {
        let text = |v: &str| audit_text("resource", Some(v.to_owned()), 40);
        assert_eq!(
            text("  invoices/42 ").unwrap().as_deref(),
            Some("invoices/42")
        );
        assert_eq!(text("   ").unwrap(), None);
        assert_eq!(audit_text("resource", None, 40).unwrap(), None);
        for bad in ["a\nb", "a\r\nb", "x\u{202E}y", "x\u{2066}y", "tab\there"] {
            assert!(text(bad).is_err(), "{bad:?}");
        }
        assert!(text(&"é".repeat(41)).is_err());
        assert!(text(&"é".repeat(40)).is_ok());
        let key = keyward_core::ApiKey::generate(&keyward_core::KeyPrefix::parse("bos").unwrap())
            .unwrap();
        let stored = audit_text("resource", Some(format!("/x/{}", key.expose())), 512)
            .unwrap()
            .unwrap();
        assert_eq!(stored, format!("/x/{}…", key.start()));
    }

    #[test]
    fn key_text_refuses_controls_and_bidi_and_one_line_fields_refuse_newlines() {
        let one = |v: &str| optional_text("reason", Some(v.to_owned()), 100, Lines::One);
        let many = |v: &str| optional_text("description", Some(v.to_owned()), 100, Lines::Many);
        for bad in [
            "ok\nkey.revoked by rk_admin",
            "a\r\nb",
            "tab\there",
            "ok\u{202E}evil",
            "\u{2066}x\u{2069}",
            "x\u{200F}",
            "\u{1b}[31m",
        ] {
            assert!(one(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "ok\u{202E}evil",
            "a\nb\u{2067}c",
            "a\r\nb",
            "tab\there",
            "a\u{85}b",
        ] {
            assert!(many(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            many("first line\nsecond, café\n").unwrap().as_deref(),
            Some("first line\nsecond, café")
        );
        assert_eq!(
            one(" no longer used ").unwrap().as_deref(),
            Some("no longer used")
        );
        assert_eq!(one("  ").unwrap(), None);
    }

    #[test]
    fn trimming_keeps_the_allocation() {
        let mut value = String::with_capacity(64);
        value.push_str("  a b  ");
        let before = value.as_ptr();
        let value = trimmed(value);
        assert_eq!(value, "a b");
        assert_eq!(value.as_ptr(), before);
    }
}
