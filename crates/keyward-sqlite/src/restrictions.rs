//! SQL for key restrictions and limits: the credit columns and the atomic spend, and the
//! workspace policy table (`migrations/0003_restrictions.sql`); the columns' stored forms are `keyward_sql::limits`.

use crate::columns::{millis, to_i64, to_u64};
use crate::error::store_error;
use crate::sql::update_one;
use chrono::{DateTime, Utc};
use keyward_core::{CreditOutcome, Credits, KeyRecord, StoreError, WorkspacePolicy};
pub(crate) use keyward_sql::credit_columns;
pub(crate) use keyward_sql::limits::{rate_limit_columns, CreditColumns};
use keyward_storage::Balance;
use sqlx::{SqliteConnection, SqliteExecutor};

/// Writes the key's credit columns (all four, `NULL` when it has no credits).
pub(crate) async fn update_credits(
    db: impl SqliteExecutor<'_>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "UPDATE keys SET (",
        credit_columns!(),
        ") = (?, ?, ?, ?) WHERE workspace_id = ? AND id = ?"
    ));
    let query = CreditColumns::of(key.restrictions.credits.as_ref())
        .bind(query)
        .bind(&key.workspace_id)
        .bind(&key.id);
    update_one(db, query).await
}

/// Reads the balance, refills and spends with the domain's arithmetic, writes it back. Must
/// run inside a write transaction (`BEGIN IMMEDIATE`), which holds SQLite's write lock from
/// the read on, so concurrent spends are serialised and none is lost or doubled; the caller's
/// commit makes the spend durable before it is answered.
pub(crate) async fn spend(
    conn: &mut SqliteConnection,
    workspace_id: &str,
    key_id: &str,
    cost: u64,
    now: DateTime<Utc>,
) -> Result<Option<CreditOutcome>, StoreError> {
    let Some((key_id, Some(credits))) = holder_credits(conn, workspace_id, key_id).await? else {
        return Ok(None);
    };
    let key_id = key_id.as_str();
    let (after, outcome) = credits.spend(cost, now);
    if after != credits {
        let query = sqlx::query(
            "UPDATE keys SET credits_remaining = ?, credits_refilled_at = ? \
             WHERE workspace_id = ? AND id = ?",
        )
        .bind(to_i64(after.remaining))
        .bind(millis(after.refilled_at))
        .bind(workspace_id)
        .bind(key_id);
        update_one(&mut *conn, query).await?;
    }
    Ok(Some(outcome))
}

/// The key whose balance a spend on `key_id` draws from (see [`balance_holder`]) and its
/// credits (`None`: it has none); `None` when no such key exists in the workspace.
pub(crate) async fn holder_credits(
    conn: &mut SqliteConnection,
    workspace_id: &str,
    key_id: &str,
) -> Result<Option<(String, Option<Credits>)>, StoreError> {
    let holder = balance_holder(conn, workspace_id, key_id).await?;
    let row: Option<CreditColumns> = sqlx::query_as(concat!(
        "SELECT ",
        credit_columns!(),
        " FROM keys WHERE workspace_id = ? AND id = ?"
    ))
    .bind(workspace_id)
    .bind(&holder)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let credits = row.into_credits(&format!("key {holder} credits"))?;
    Ok(Some((holder, credits)))
}

/// Writes the balance a journaled spend left (its remaining credits and refill anchor), as it
/// is: writing it twice leaves the same.
pub(crate) async fn write_balance(
    db: impl SqliteExecutor<'_>,
    balance: &Balance,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE keys SET credits_remaining = ?, credits_refilled_at = ? \
         WHERE workspace_id = ? AND id = ?",
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

/// Longest rotation chain followed; rotations are made one by one by people, so a chain
/// this long does not occur, and the bound keeps a spend cheap whatever the data holds.
const MAX_CHAIN: usize = 1024;

/// The key whose balance a spend on `key_id` draws from: the last of its rotation chain.
/// Rotation moves the balance to the new key (`copy_credits`), and a rotated key in its grace
/// period spends from its replacement's, so the two share one balance and never double it.
async fn balance_holder(
    conn: &mut SqliteConnection,
    workspace_id: &str,
    key_id: &str,
) -> Result<String, StoreError> {
    let mut holder = key_id.to_owned();
    for _ in 0..MAX_CHAIN {
        let next: Option<(Option<String>,)> =
            sqlx::query_as("SELECT replaced_by FROM keys WHERE workspace_id = ? AND id = ?")
                .bind(workspace_id)
                .bind(&holder)
                .fetch_optional(&mut *conn)
                .await
                .map_err(store_error)?;
        match next {
            Some((Some(successor),)) => holder = successor,
            _ => break,
        }
    }
    Ok(holder)
}

/// Gives the key `to` the credit balance `from` holds now, inside the caller's write
/// transaction: a spend committed after the caller read `from` is not lost to the copy.
pub(crate) async fn copy_credits(
    conn: &mut SqliteConnection,
    workspace_id: &str,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "UPDATE keys SET (",
        credit_columns!(),
        ") = (SELECT ",
        credit_columns!(),
        " FROM keys WHERE workspace_id = ? AND id = ?) WHERE workspace_id = ? AND id = ?"
    ))
    .bind(workspace_id)
    .bind(from)
    .bind(workspace_id)
    .bind(to);
    update_one(conn, query).await
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
    let what = format!("workspace {workspace_id} policy");
    let max = row
        .and_then(|(max,)| max)
        .map(|m| to_u64(m, &what))
        .transpose()?;
    WorkspacePolicy::new(max).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
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
