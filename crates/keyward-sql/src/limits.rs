//! Key restrictions and limits as stored: allowlists (JSON arrays of canonical strings), the
//! rate-limit columns, and the credit columns of `keys` ([`CreditColumns`]); each engine's
//! SQL for the atomic spend and the policy table is its own.

use crate::columns::{millis, parse_json_list, time, to_i64, to_u64};
use keyward_core::{Credits, IpRange, Origin, RateLimit, Refill, StoreError};
use sqlx::query::Query;
use sqlx::Database;

/// The credit columns of `keys`, in [`CreditColumns`]' order.
#[macro_export]
macro_rules! credit_columns {
    () => {
        "credits_remaining, credits_refill_amount, credits_refill_interval_seconds, \
         credits_refilled_at"
    };
}

/// Entries were canonical when written; `IpRange`'s and `Origin`'s errors quote the text,
/// so theirs are not passed on.
pub fn ip_list(json: &str, what: &str) -> Result<Vec<IpRange>, StoreError> {
    parse_json_list(json, what, |t| {
        IpRange::parse(t).map_err(|_| "an entry is not a CIDR range")
    })
}

pub fn origin_list(json: &str, what: &str) -> Result<Vec<Origin>, StoreError> {
    parse_json_list(json, what, |t| {
        Origin::parse(t).map_err(|_| "an entry is not an origin")
    })
}

/// `(rate_limit, rate_limit_window_seconds)`.
pub fn rate_limit_columns(limit: Option<&RateLimit>) -> (Option<i64>, Option<i64>) {
    match limit {
        Some(l) => (Some(to_i64(l.limit)), Some(to_i64(l.window_seconds))),
        None => (None, None),
    }
}

pub fn rate_limit(
    limit: Option<i64>,
    window: Option<i64>,
    what: &str,
) -> Result<Option<RateLimit>, StoreError> {
    match (limit, window) {
        (None, None) => Ok(None),
        (Some(limit), Some(window)) => RateLimit::new(to_u64(limit, what)?, to_u64(window, what)?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))),
        _ => Err(StoreError::Corrupt(format!("{what} is half set"))),
    }
}

/// The [`credit_columns!`] of `keys`, as selected and bound; all `NULL` for a key without
/// credits.
#[derive(Debug, Default, sqlx::FromRow)]
pub struct CreditColumns {
    credits_remaining: Option<i64>,
    credits_refill_amount: Option<i64>,
    credits_refill_interval_seconds: Option<i64>,
    credits_refilled_at: Option<i64>,
}

impl CreditColumns {
    pub fn of(credits: Option<&Credits>) -> Self {
        let Some(c) = credits else {
            return Self::default();
        };
        Self {
            credits_remaining: Some(to_i64(c.remaining)),
            credits_refill_amount: c.refill.map(|r| to_i64(r.amount)),
            credits_refill_interval_seconds: c.refill.map(|r| to_i64(r.interval_seconds)),
            credits_refilled_at: Some(millis(c.refilled_at)),
        }
    }

    /// Binds the four values, in [`credit_columns!`] order.
    pub fn bind<'q, DB>(
        self,
        query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    ) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        DB: Database,
        Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        query
            .bind(self.credits_remaining)
            .bind(self.credits_refill_amount)
            .bind(self.credits_refill_interval_seconds)
            .bind(self.credits_refilled_at)
    }

    /// The four values, in [`credit_columns!`] order (for column-wise bulk inserts).
    pub fn values(&self) -> [Option<i64>; 4] {
        [
            self.credits_remaining,
            self.credits_refill_amount,
            self.credits_refill_interval_seconds,
            self.credits_refilled_at,
        ]
    }

    pub fn into_credits(self, what: &str) -> Result<Option<Credits>, StoreError> {
        let Some(remaining) = self.credits_remaining else {
            return Ok(None);
        };
        let refill = match (
            self.credits_refill_amount,
            self.credits_refill_interval_seconds,
        ) {
            (None, None) => None,
            (Some(amount), Some(interval)) => Some(
                Refill::new(to_u64(amount, what)?, to_u64(interval, what)?)
                    .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?,
            ),
            _ => return Err(StoreError::Corrupt(format!("{what}: refill is half set"))),
        };
        let anchor = self
            .credits_refilled_at
            .ok_or_else(|| StoreError::Corrupt(format!("{what}: no refill anchor")))?;
        Ok(Some(Credits {
            remaining: to_u64(remaining, what)?,
            refill,
            refilled_at: time(anchor, what)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_allowlist_is_reported_without_its_entries() {
        let what = "key key_1 ip_allowlist";
        for json in [r#"["10.0.0.0/8", "secret-ish text"]"#, "secret-ish text"] {
            let err = ip_list(json, what).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(what) && !err.contains("secret"), "{err}");
            let err = origin_list(json, what).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(what) && !err.contains("secret"), "{err}");
        }
    }
}
