//! SQL for customer keys: insert, update, lookup and filtered, cursor-paginated listing.

use crate::error::store_error;
use crate::restrictions::{self, CreditColumns};
use crate::rows::{metadata_json, millis, permissions_json, KeyRow};
use keyward_core::{KeyFilter, KeyRecord, KeyStatus, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

/// The columns every key query selects, in [`KeyRow`]'s shape.
macro_rules! key_columns {
    () => {
        "id, workspace_id, name, description, owner_id, hash, start, permissions, enabled, \
         expires_at, metadata, created_at, updated_at, revoked_at, revoked_reason, replaced_by, \
         ip_allowlist, origin_allowlist, credits_remaining, credits_refill_amount, \
         credits_refill_interval_seconds, credits_refilled_at, rate_limit, rate_limit_window_seconds"
    };
}

pub(crate) async fn insert(db: impl SqliteExecutor<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let credits = CreditColumns::of(key.restrictions.credits.as_ref());
    let rate = restrictions::rate_limit_columns(key.restrictions.rate_limit.as_ref());
    sqlx::query(concat!(
        "INSERT INTO keys (",
        key_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&key.id)
    .bind(&key.workspace_id)
    .bind(&key.name)
    .bind(&key.description)
    .bind(&key.owner_id)
    .bind(key.hash.as_bytes().as_slice())
    .bind(&key.start)
    .bind(permissions_json(&key.permissions))
    .bind(key.enabled)
    .bind(key.expires_at.map(millis))
    .bind(metadata_json(&key.metadata))
    .bind(millis(key.created_at))
    .bind(millis(key.updated_at))
    .bind(key.revoked_at.map(millis))
    .bind(&key.revoked_reason)
    .bind(&key.replaced_by)
    .bind(restrictions::ip_json(&key.restrictions.ip_allowlist))
    .bind(restrictions::origin_json(
        &key.restrictions.origin_allowlist,
    ))
    .bind(credits.remaining)
    .bind(credits.refill_amount)
    .bind(credits.refill_interval_seconds)
    .bind(credits.refilled_at)
    .bind(rate.0)
    .bind(rate.1)
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Replaces every mutable column of the key with `key`'s workspace and id, except the credit
/// columns (see `restrictions::update_credits`).
pub(crate) async fn update(db: impl SqliteExecutor<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let rate = restrictions::rate_limit_columns(key.restrictions.rate_limit.as_ref());
    let done = sqlx::query(
        "UPDATE keys SET name = ?, description = ?, owner_id = ?, permissions = ?, enabled = ?, \
         expires_at = ?, metadata = ?, updated_at = ?, revoked_at = ?, revoked_reason = ?, \
         replaced_by = ?, ip_allowlist = ?, origin_allowlist = ?, rate_limit = ?, \
         rate_limit_window_seconds = ? \
         WHERE workspace_id = ? AND id = ?",
    )
    .bind(&key.name)
    .bind(&key.description)
    .bind(&key.owner_id)
    .bind(permissions_json(&key.permissions))
    .bind(key.enabled)
    .bind(key.expires_at.map(millis))
    .bind(metadata_json(&key.metadata))
    .bind(millis(key.updated_at))
    .bind(key.revoked_at.map(millis))
    .bind(&key.revoked_reason)
    .bind(&key.replaced_by)
    .bind(restrictions::ip_json(&key.restrictions.ip_allowlist))
    .bind(restrictions::origin_json(
        &key.restrictions.origin_allowlist,
    ))
    .bind(rate.0)
    .bind(rate.1)
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

pub(crate) async fn get(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    id: &str,
) -> Result<Option<KeyRecord>, StoreError> {
    sqlx::query_as::<_, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE workspace_id = ? AND id = ?"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
    .map_err(store_error)?
    .map(KeyRow::into_record)
    .transpose()
}

/// A workspace's keys matching `filter`, newest first (ids are time-ordered).
pub(crate) async fn list(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    filter: &KeyFilter,
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE workspace_id = "
    ));
    sql.push_bind(workspace_id);
    if let Some(owner_id) = &filter.owner_id {
        sql.push(" AND owner_id = ").push_bind(owner_id);
    }
    if let Some(before_id) = &filter.before_id {
        sql.push(" AND id < ").push_bind(before_id);
    }
    if let Some(status) = filter.status {
        push_status(&mut sql, status, millis(filter.now));
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    sql.build_query_as::<KeyRow>()
        .fetch_all(db)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(KeyRow::into_record)
        .collect()
}

/// The SQL form of [`KeyRecord::status`] at `now`: revocation wins over expiry, expiry over
/// disabling.
fn push_status(sql: &mut QueryBuilder<'_, Sqlite>, status: KeyStatus, now: i64) {
    let not_revoked = |sql: &mut QueryBuilder<'_, Sqlite>| {
        sql.push(" AND (revoked_at IS NULL OR revoked_at > ")
            .push_bind(now)
            .push(")");
    };
    let not_expired = |sql: &mut QueryBuilder<'_, Sqlite>| {
        sql.push(" AND (expires_at IS NULL OR expires_at > ")
            .push_bind(now)
            .push(")");
    };
    match status {
        KeyStatus::Revoked => {
            sql.push(" AND revoked_at IS NOT NULL AND revoked_at <= ")
                .push_bind(now);
        }
        KeyStatus::Expired => {
            not_revoked(sql);
            sql.push(" AND expires_at IS NOT NULL AND expires_at <= ")
                .push_bind(now);
        }
        KeyStatus::Disabled => {
            not_revoked(sql);
            not_expired(sql);
            sql.push(" AND enabled = 0");
        }
        KeyStatus::Active => {
            not_revoked(sql);
            not_expired(sql);
            sql.push(" AND enabled = 1");
        }
    }
}

/// Every key of every workspace.
pub(crate) async fn all(db: impl SqliteExecutor<'_>) -> Result<Vec<KeyRecord>, StoreError> {
    sqlx::query_as::<_, KeyRow>(concat!("SELECT ", key_columns!(), " FROM keys ORDER BY id"))
        .fetch_all(db)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(KeyRow::into_record)
        .collect()
}
