//! SQL and column conversions for key restrictions and limits: allowlists (JSON arrays of
//! canonical strings), the credit columns and the atomic spend, rate-limit columns, and the
//! workspace policy table (see `migrations/0003_restrictions.sql`).

use crate::error::store_error;
use crate::rows::{millis, time};
use chrono::{DateTime, Utc};
use keyward_core::{
    CreditOutcome, Credits, IpRange, KeyRecord, Origin, RateLimit, Refill, StoreError,
    WorkspacePolicy,
};
use serde_json::Value;
use sqlx::{Sqlite, SqliteExecutor, Transaction};

fn json_strings(items: impl Iterator<Item = String>) -> String {
    Value::Array(items.map(Value::String).collect()).to_string()
}

pub(crate) fn ip_json(list: &[IpRange]) -> String {
    json_strings(list.iter().map(ToString::to_string))
}

pub(crate) fn origin_json(list: &[Origin]) -> String {
    json_strings(list.iter().map(ToString::to_string))
}

fn parse_json_list<T>(
    json: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, StoreError> {
    let texts: Vec<String> = serde_json::from_str(json)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON array of strings")))?;
    texts
        .iter()
        .map(|t| {
            parse(t).ok_or_else(|| StoreError::Corrupt(format!("{what} holds an invalid entry")))
        })
        .collect()
}

pub(crate) fn ip_list(json: &str, what: &str) -> Result<Vec<IpRange>, StoreError> {
    parse_json_list(json, what, |t| IpRange::parse(t).ok())
}

pub(crate) fn origin_list(json: &str, what: &str) -> Result<Vec<Origin>, StoreError> {
    parse_json_list(json, what, |t| Origin::parse(t).ok())
}

fn to_i64(n: u64) -> i64 {
    // Every bound in the domain (credits ≤ 2^53, windows ≤ a day, …) is far below i64::MAX.
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} is negative")))
}

/// `(rate_limit, rate_limit_window_seconds)`.
pub(crate) fn rate_limit_columns(limit: Option<&RateLimit>) -> (Option<i64>, Option<i64>) {
    match limit {
        Some(l) => (Some(to_i64(l.limit)), Some(to_i64(l.window_seconds))),
        None => (None, None),
    }
}

pub(crate) fn rate_limit(
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

/// The four credit columns of `keys`, as selected and bound.
#[derive(Debug, Default, sqlx::FromRow)]
pub(crate) struct CreditColumns {
    pub(crate) credits_remaining: Option<i64>,
    pub(crate) credits_refill_amount: Option<i64>,
    pub(crate) credits_refill_interval_seconds: Option<i64>,
    pub(crate) credits_refilled_at: Option<i64>,
}

/// The same columns under the names `insert` binds them by.
pub(crate) struct CreditBinds {
    pub(crate) remaining: Option<i64>,
    pub(crate) refill_amount: Option<i64>,
    pub(crate) refill_interval_seconds: Option<i64>,
    pub(crate) refilled_at: Option<i64>,
}

impl CreditColumns {
    pub(crate) fn of(credits: Option<&Credits>) -> CreditBinds {
        let Some(c) = credits else {
            return CreditBinds {
                remaining: None,
                refill_amount: None,
                refill_interval_seconds: None,
                refilled_at: None,
            };
        };
        CreditBinds {
            remaining: Some(to_i64(c.remaining)),
            refill_amount: c.refill.map(|r| to_i64(r.amount)),
            refill_interval_seconds: c.refill.map(|r| to_i64(r.interval_seconds)),
            refilled_at: Some(millis(c.refilled_at)),
        }
    }

    pub(crate) fn into_credits(self, what: &str) -> Result<Option<Credits>, StoreError> {
        let Some(remaining) = self.credits_remaining else {
            return Ok(None);
        };
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
        let refill = match (
            self.credits_refill_amount,
            self.credits_refill_interval_seconds,
        ) {
            (None, None) => None,
            (Some(amount), Some(interval)) => Some(
                Refill::new(to_u64(amount, what)?, to_u64(interval, what)?)
                    .map_err(|e| corrupt(&e))?,
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

/// Writes the key's credit columns (all four, `NULL` when it has no credits).
pub(crate) async fn update_credits(
    db: impl SqliteExecutor<'_>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    let c = CreditColumns::of(key.restrictions.credits.as_ref());
    let done = sqlx::query(
        "UPDATE keys SET credits_remaining = ?, credits_refill_amount = ?, \
         credits_refill_interval_seconds = ?, credits_refilled_at = ? \
         WHERE workspace_id = ? AND id = ?",
    )
    .bind(c.remaining)
    .bind(c.refill_amount)
    .bind(c.refill_interval_seconds)
    .bind(c.refilled_at)
    .bind(&key.workspace_id)
    .bind(&key.id)
    .execute(db)
    .await
    .map_err(store_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Reads the balance, refills and spends with the domain's arithmetic, writes it back: all
/// inside the caller's `BEGIN IMMEDIATE` transaction, which holds SQLite's write lock, so
/// concurrent spends are serialised and none is lost or doubled.
pub(crate) async fn spend(
    tx: &mut Transaction<'static, Sqlite>,
    workspace_id: &str,
    key_id: &str,
    cost: u64,
    now: DateTime<Utc>,
) -> Result<Option<CreditOutcome>, StoreError> {
    let row: Option<CreditColumns> = sqlx::query_as(
        "SELECT credits_remaining, credits_refill_amount, credits_refill_interval_seconds, \
         credits_refilled_at FROM keys WHERE workspace_id = ? AND id = ?",
    )
    .bind(workspace_id)
    .bind(key_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(store_error)?;
    let what = format!("key {key_id} credits");
    let Some(credits) = row.map(|r| r.into_credits(&what)).transpose()?.flatten() else {
        return Ok(None);
    };
    let (after, outcome) = credits.spend(cost, now);
    if after != credits {
        sqlx::query(
            "UPDATE keys SET credits_remaining = ?, credits_refilled_at = ? \
             WHERE workspace_id = ? AND id = ?",
        )
        .bind(to_i64(after.remaining))
        .bind(millis(after.refilled_at))
        .bind(workspace_id)
        .bind(key_id)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    }
    Ok(Some(outcome))
}

pub(crate) async fn policy(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
) -> Result<WorkspacePolicy, StoreError> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT max_key_lifetime_seconds FROM workspace_policies WHERE workspace_id = ?",
    )
    .bind(workspace_id)
    .fetch_optional(db)
    .await
    .map_err(store_error)?;
    let max = row
        .and_then(|(max,)| max)
        .map(|m| to_u64(m, "max_key_lifetime_seconds"))
        .transpose()?;
    WorkspacePolicy::new(max).map_err(|e| StoreError::Corrupt(format!("workspace policy: {e}")))
}

pub(crate) async fn set_policy(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    policy: &WorkspacePolicy,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workspace_policies (workspace_id, max_key_lifetime_seconds, updated_at) \
         VALUES (?, ?, ?) ON CONFLICT (workspace_id) DO UPDATE SET \
         max_key_lifetime_seconds = excluded.max_key_lifetime_seconds, \
         updated_at = excluded.updated_at",
    )
    .bind(workspace_id)
    .bind(policy.max_key_lifetime_seconds.map(to_i64))
    .bind(millis(now))
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}
