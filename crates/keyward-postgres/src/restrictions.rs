//! SQL for key restrictions and limits: the credit columns and the atomic spend, and the
//! workspace policy table (`migrations/0001_init.sql`); the columns' stored forms are `keyward_sql::limits`.

use crate::columns::{millis, to_i64, to_u64};
use crate::error::store_error;
use crate::sql::update_one;
use chrono::{DateTime, Utc};
use keyward_core::{CreditOutcome, Credits, KeyRecord, StoreError, WorkspacePolicy};
pub(crate) use keyward_sql::credit_columns;
pub(crate) use keyward_sql::limits::{rate_limit_columns, CreditColumns};
use keyward_storage::Balance;
use sqlx::{PgConnection, PgExecutor};

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
    let Some((holder, Some(credits))) = holder_credits(conn, workspace_id, key_id, true).await?
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

/// The key whose balance a spend on `key_id` draws from (the last of its rotation chain) and
/// its credits (`None`: it has none); `None` when no such key exists in the workspace. `lock`
/// reads each key of the chain `FOR UPDATE`, for a transaction that spends.
pub(crate) async fn holder_credits(
    conn: &mut PgConnection,
    workspace_id: &str,
    key_id: &str,
    lock: bool,
) -> Result<Option<(String, Option<Credits>)>, StoreError> {
    let sql = if lock {
        concat!(
            "SELECT replaced_by, ",
            credit_columns!(),
            " FROM keys WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
        )
    } else {
        concat!(
            "SELECT replaced_by, ",
            credit_columns!(),
            " FROM keys WHERE workspace_id = $1 AND id = $2"
        )
    };
    let mut holder = key_id.to_owned();
    let mut row = None;
    for _ in 0..MAX_CHAIN {
        let found: Option<SpendRow> = sqlx::query_as(sql)
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
    let Some(row) = row else {
        return Ok(None);
    };
    let credits = row.credits.into_credits(&format!("key {holder} credits"))?;
    Ok(Some((holder, credits)))
}

/// Writes the balance a journaled spend left (its remaining credits and refill anchor), as it
/// is: writing it twice leaves the same.
pub(crate) async fn write_balance(
    db: impl PgExecutor<'_>,
    balance: &Balance,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE keys SET credits_remaining = $1, credits_refilled_at = $2 \
         WHERE workspace_id = $3 AND id = $4",
    )
    .bind(to_i64(balance.remaining))
    .bind(millis(balance.refilled_at))
    .bind(&balance.workspace_id)
    .bind(&balance.key_id)
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
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
