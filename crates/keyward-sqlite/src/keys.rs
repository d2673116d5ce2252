//! SQL for customer keys: insert, update, lookup and filtered, cursor-paginated listing.

use crate::columns::{json_list, metadata_json, millis};
use crate::error::store_error;
use crate::restrictions::{self, credit_columns, CreditColumns};
use crate::rows::KeyRow;
use crate::sql::{and_where, fetch_all, fetch_optional, update_one};
use futures_util::TryStreamExt;
use keyward_core::{KeyFilter, KeyRecord, StoreError};
use keyward_sql::keys::push_status;
use keyward_sql::IntoRecord;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

/// The columns [`update`] replaces, in [`bind_mutable`]'s order: all but the identity, the
/// hash and creation, and the credits.
macro_rules! mutable_columns {
    () => {
        "name, description, owner_id, permissions, enabled, expires_at, metadata, updated_at, \
         revoked_at, revoked_reason, replaced_by, ip_allowlist, origin_allowlist, rate_limit, \
         rate_limit_window_seconds"
    };
}

/// Every column, in [`insert`]'s order (queries read them into [`KeyRow`] by name).
macro_rules! key_columns {
    () => {
        concat!(
            "id, workspace_id, hash, start, imported, created_at, ",
            mutable_columns!(),
            ", ",
            credit_columns!()
        )
    };
}

pub(crate) async fn insert(db: impl SqliteExecutor<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "INSERT INTO keys (",
        key_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&key.id)
    .bind(&key.workspace_id)
    .bind(key.hash.as_bytes().as_slice())
    .bind(&key.start)
    .bind(key.imported)
    .bind(millis(key.created_at));
    CreditColumns::of(key.restrictions.credits.as_ref())
        .bind(bind_mutable(query, key))
        .execute(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Replaces the [`mutable_columns!`] of the key with `key`'s workspace and id. The credit
/// columns are left alone (see `restrictions::update_credits`).
pub(crate) async fn update(db: impl SqliteExecutor<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "UPDATE keys SET (",
        mutable_columns!(),
        ") = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE workspace_id = ? AND id = ?"
    ));
    let query = bind_mutable(query, key)
        .bind(&key.workspace_id)
        .bind(&key.id);
    update_one(db, query).await
}

/// Binds `key`'s values for the [`mutable_columns!`], in their order.
fn bind_mutable<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    key: &'q KeyRecord,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    let (rate_limit, rate_limit_window) =
        restrictions::rate_limit_columns(key.restrictions.rate_limit.as_ref());
    query
        .bind(&key.name)
        .bind(&key.description)
        .bind(&key.owner_id)
        .bind(json_list(&key.permissions))
        .bind(key.enabled)
        .bind(key.expires_at.map(millis))
        .bind(metadata_json(&key.metadata))
        .bind(millis(key.updated_at))
        .bind(key.revoked_at.map(millis))
        .bind(&key.revoked_reason)
        .bind(&key.replaced_by)
        .bind(json_list(&key.restrictions.ip_allowlist))
        .bind(json_list(&key.restrictions.origin_allowlist))
        .bind(rate_limit)
        .bind(rate_limit_window)
}

pub(crate) async fn get(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    id: &str,
) -> Result<Option<KeyRecord>, StoreError> {
    let query = sqlx::query_as::<_, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE workspace_id = ? AND id = ?"
    ))
    .bind(workspace_id)
    .bind(id);
    fetch_optional(db, query).await
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
    and_where(&mut sql, "owner_id = ", filter.owner_id.as_deref());
    and_where(&mut sql, "id < ", filter.before_id.as_deref());
    if let Some(status) = filter.status {
        push_status(&mut sql, status, millis(filter.now));
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    fetch_all(db, sql.build_query_as::<KeyRow>()).await
}

/// Every key of every workspace.
pub(crate) async fn all(db: impl SqliteExecutor<'_>) -> Result<Vec<KeyRecord>, StoreError> {
    let query =
        sqlx::query_as::<_, KeyRow>(concat!("SELECT ", key_columns!(), " FROM keys ORDER BY id"));
    fetch_all(db, query).await
}

/// Every key of every workspace, streamed to `each` in storage order (no sort: the index
/// needs none).
pub(crate) async fn each(
    db: impl SqliteExecutor<'_>,
    each: &mut (dyn FnMut(KeyRecord) + Send),
) -> Result<(), StoreError> {
    let mut rows =
        sqlx::query_as::<_, KeyRow>(concat!("SELECT ", key_columns!(), " FROM keys")).fetch(db);
    while let Some(row) = rows.try_next().await.map_err(store_error)? {
        each(row.into_record()?);
    }
    Ok(())
}
