//! Records from the core as a page shows them: times in UTC to the minute, status badges,
//! lists joined for reading and for editing.

use chrono::{DateTime, Duration, Utc};
use keyward_app::usage::UsageTracker;
use keyward_core::{KeyRecord, KeyStatus};

/// A key expiring within this long is marked "expiring soon".
pub const EXPIRING_SOON: Duration = Duration::days(7);
/// A key with credits at or below this share of its refill (or this many without one) is
/// marked "low credits".
const LOW_CREDITS: u64 = 10;

pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn optional_time(t: Option<DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_owned(), time)
}

/// A status badge: its text and its CSS class.
pub struct Badge {
    pub text: String,
    pub class: &'static str,
}

/// How many safety advice items a key has (the keys list).
pub fn advice_badge(items: usize) -> Badge {
    badge(
        if items == 1 {
            "1 advice item".to_owned()
        } else {
            format!("{items} advice items")
        },
        "info",
    )
}

fn badge(text: impl Into<String>, class: &'static str) -> Badge {
    Badge {
        text: text.into(),
        class,
    }
}

pub fn badges(key: &KeyRecord, now: DateTime<Utc>) -> Vec<Badge> {
    let status = key.status(now);
    let mut out = vec![match status {
        KeyStatus::Active => badge("active", "ok"),
        KeyStatus::Disabled => badge("disabled", "muted"),
        KeyStatus::Expired => badge("expired", "bad"),
        KeyStatus::Revoked => badge("revoked", "bad"),
    }];
    if status == KeyStatus::Active {
        if key.expires_at.is_some_and(|at| at - now <= EXPIRING_SOON) {
            out.push(badge("expiring soon", "warn"));
        }
        if key.replaced_by.is_some() {
            out.push(badge("rotated, in grace period", "warn"));
        }
    }
    if let Some(limit) = &key.restrictions.rate_limit {
        out.push(badge(
            format!("rate limited {}/{} s", limit.limit, limit.window_seconds),
            "info",
        ));
    }
    if let Some(credits) = &key.restrictions.credits {
        let low = match &credits.refill {
            Some(refill) => credits.remaining.saturating_mul(LOW_CREDITS) <= refill.amount,
            None => credits.remaining <= LOW_CREDITS,
        };
        if low {
            out.push(badge(
                format!("low credits ({} left)", credits.remaining),
                "warn",
            ));
        }
    }
    out
}

pub fn joined<T: ToString>(items: &[T], none: &str) -> String {
    if items.is_empty() {
        return none.to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One entry a line, for a textarea.
pub fn lines<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// When the key was last used and how many verifications it has had.
pub fn usage(usage: &UsageTracker, key_id: &str) -> (String, u64) {
    let (last, count) = usage.get(key_id);
    (optional_time(last, "never"), count)
}

/// A value for a link's query string, percent-encoded.
pub fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
