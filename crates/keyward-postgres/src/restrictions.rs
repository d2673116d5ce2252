//! SQL and column conversions for key restrictions and limits: allowlists (JSON arrays of
//! canonical strings), the credit columns and the atomic spend, rate-limit columns, and the
//! workspace policy table (see `migrations/0001_init.sql`).

use crate::columns::{millis, parse_json_list, time, to_i64, to_u64};
use crate::error::store_error;
use crate::sql::update_one;
use chrono::{DateTime, Utc};
use keyward_core::{
    CreditOutcome, Credits, IpRange, KeyRecord, Origin, RateLimit, Refill, StoreError,
    WorkspacePolicy,
};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgExecutor, Postgres};

/// The credit columns of `keys`, in [`CreditColumns`]' order.
macro_rules! credit_columns {
    () => {
        "credits_remaining, credits_refill_amount, credits_refill_interval_seconds, \
         credits_refilled_at"
    };
}
pub(crate) use credit_columns;

/// Entries were canonical when written; `IpRange`'s and `Origin`'s errors quote the text,
/// so theirs are not passed on.
pub(crate) fn ip_list(json: &str, what: &str) -> Result<Vec<IpRange>, StoreError> {
    parse_json_list(json, what, |t| {
        IpRange::parse(t).map_err(|_| "an entry is not a CIDR range")
    })
}

pub(crate) fn origin_list(json: &str, what: &str) -> Result<Vec<Origin>, StoreError> {
    parse_json_list(json, what, |t| {
        Origin::parse(t).map_err(|_| "an entry is not an origin")
    })
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

/// The [`credit_columns!`] of `keys`, as selected and bound; all `NULL` for a key without
/// credits.
#[derive(Debug, Default, sqlx::FromRow)]
pub(crate) struct CreditColumns {
    credits_remaining: Option<i64>,
    credits_refill_amount: Option<i64>,
    credits_refill_interval_seconds: Option<i64>,
    credits_refilled_at: Option<i64>,
}

impl CreditColumns {
    pub(crate) fn of(credits: Option<&Credits>) -> Self {
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
    pub(crate) fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.credits_remaining)
            .bind(self.credits_refill_amount)
            .bind(self.credits_refill_interval_seconds)
            .bind(self.credits_refilled_at)
    }

    pub(crate) fn into_credits(self, what: &str) -> Result<Option<Credits>, StoreError> {
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

/// Writes the key's credit columns (all four, `NULL` when it has no credits).
pub(crate) async fn update_credits(
    db: impl PgExecutor<'_>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "UPDATE keys SET (",
        credit_columns!(),
        ") = ($1, $2, $3, $4) WHERE workspace_id = $5 AND id = $6"
    ));
    let query = CreditColumns::of(key.restrictions.credits.as_ref())
        .bind(query)
        .bind(&key.workspace_id)
        .bind(&key.id);
    update_one(db, query).await
}

/// The replacement and credit columns of a key, as a spend reads them.
#[derive(sqlx::FromRow)]
struct SpendRow {
    replaced_by: Option<String>,
    #[sqlx(flatten)]
    credits: CreditColumns,
}

/// Longest rotation chain followed; rotations are made one by one by people, so a chain
/// this long does not occur, and the bound keeps a spend cheap whatever the data holds.
const MAX_CHAIN: usize = 1024;

/// Reads the balance, refills and spends with the domain's arithmetic, writes it back, inside
/// the caller's transaction. The balance is that of the last key of `key_id`'s rotation chain
/// (rotation moves the balance to the new key, and a rotated key in its grace period spends
/// from its replacement's, so the two share one balance and never double it). Each key of the
/// chain is read `FOR UPDATE`: the read waits for any other transaction holding the row (a
/// spend on another node, a rotation) and sees what it committed, so concurrent spends are
/// serialised and none is lost or doubled; the caller's commit makes the spend durable before
/// it is answered.
pub(crate) async fn spend(
    conn: &mut PgConnection,
    workspace_id: &str,
    key_id: &str,
    cost: u64,
    now: DateTime<Utc>,
) -> Result<Option<CreditOutcome>, StoreError> {
    let mut holder = key_id.to_owned();
    let mut row = None;
    for _ in 0..MAX_CHAIN {
        let found: Option<SpendRow> = sqlx::query_as(concat!(
            "SELECT replaced_by, ",
            credit_columns!(),
            " FROM keys WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
        ))
        .bind(workspace_id)
        .bind(&holder)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
        match found {
            Some(SpendRow {
                replaced_by: Some(successor),
                ..
            }) => holder = successor,
            found => {
                row = found;
                break;
            }
        }
    }
    let Some(credits) = row
        .map(|r| r.credits.into_credits(&format!("key {holder} credits")))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let (after, outcome) = credits.spend(cost, now);
    if after != credits {
        let query = sqlx::query(
            "UPDATE keys SET credits_remaining = $1, credits_refilled_at = $2 \
             WHERE workspace_id = $3 AND id = $4",
        )
        .bind(to_i64(after.remaining))
        .bind(millis(after.refilled_at))
        .bind(workspace_id)
        .bind(&holder);
        update_one(&mut *conn, query).await?;
    }
    Ok(Some(outcome))
}

/// Gives the key `to` the credit balance `from` holds now, inside the caller's write
/// transaction: a spend committed after the caller read `from` is not lost to the copy.
pub(crate) async fn copy_credits(
    conn: &mut PgConnection,
    workspace_id: &str,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "UPDATE keys SET (",
        credit_columns!(),
        ") = (SELECT ",
        credit_columns!(),
        " FROM keys WHERE workspace_id = $1 AND id = $2) WHERE workspace_id = $3 AND id = $4"
    ))
    .bind(workspace_id)
    .bind(from)
    .bind(workspace_id)
    .bind(to);
    update_one(conn, query).await
}

pub(crate) async fn policy(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
) -> Result<WorkspacePolicy, StoreError> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT max_key_lifetime_seconds FROM workspace_policies WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(db)
    .await
    .map_err(store_error)?;
    let what = format!("workspace {workspace_id} policy");
    let max = row
        .and_then(|(max,)| max)
        .map(|m| to_u64(m, &what))
        .transpose()?;
    WorkspacePolicy::new(max).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) async fn set_policy(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    policy: &WorkspacePolicy,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workspace_policies (workspace_id, max_key_lifetime_seconds, updated_at) \
         VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO UPDATE SET \
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
