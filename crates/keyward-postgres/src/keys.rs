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
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres, QueryBuilder};

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

pub(crate) async fn insert(db: impl PgExecutor<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "INSERT INTO keys (",
        key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $23, $24, $25)"
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

/// Inserts `keys` with one statement, column by column (`UNNEST` of one array per column): a
/// bulk import, where a statement per key would make a million keys a million round trips.
pub(crate) async fn insert_many(
    db: impl PgExecutor<'_>,
    keys: &[KeyRecord],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut c = BulkColumns::default();
    for key in keys {
        c.push(key);
    }
    let [remaining, refill_amount, refill_interval, refilled_at] = c.credits;
    sqlx::query(concat!(
        "INSERT INTO keys (",
        key_columns!(),
        ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], \
         $5::boolean[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], \
         $11::boolean[], $12::bigint[], $13::text[], $14::bigint[], $15::bigint[], $16::text[], \
         $17::text[], $18::text[], $19::text[], $20::bigint[], $21::bigint[], $22::bigint[], \
         $23::bigint[], $24::bigint[], $25::bigint[])"
    ))
    .bind(c.id)
    .bind(c.workspace_id)
    .bind(c.hash)
    .bind(c.start)
    .bind(c.imported)
    .bind(c.created_at)
    .bind(c.name)
    .bind(c.description)
    .bind(c.owner_id)
    .bind(c.permissions)
    .bind(c.enabled)
    .bind(c.expires_at)
    .bind(c.metadata)
    .bind(c.updated_at)
    .bind(c.revoked_at)
    .bind(c.revoked_reason)
    .bind(c.replaced_by)
    .bind(c.ip_allowlist)
    .bind(c.origin_allowlist)
    .bind(c.rate_limit)
    .bind(c.rate_limit_window)
    .bind(remaining)
    .bind(refill_amount)
    .bind(refill_interval)
    .bind(refilled_at)
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// The values of many keys, one vector per column of [`key_columns!`] (in its order).
#[derive(Default)]
struct BulkColumns<'k> {
    id: Vec<&'k str>,
    workspace_id: Vec<&'k str>,
    hash: Vec<&'k [u8]>,
    start: Vec<&'k str>,
    imported: Vec<bool>,
    created_at: Vec<i64>,
    name: Vec<&'k str>,
    description: Vec<Option<&'k str>>,
    owner_id: Vec<Option<&'k str>>,
    permissions: Vec<String>,
    enabled: Vec<bool>,
    expires_at: Vec<Option<i64>>,
    metadata: Vec<String>,
    updated_at: Vec<i64>,
    revoked_at: Vec<Option<i64>>,
    revoked_reason: Vec<Option<&'k str>>,
    replaced_by: Vec<Option<&'k str>>,
    ip_allowlist: Vec<String>,
    origin_allowlist: Vec<String>,
    rate_limit: Vec<Option<i64>>,
    rate_limit_window: Vec<Option<i64>>,
    credits: [Vec<Option<i64>>; 4],
}

impl<'k> BulkColumns<'k> {
    fn push(&mut self, key: &'k KeyRecord) {
        let (rate_limit, rate_limit_window) =
            restrictions::rate_limit_columns(key.restrictions.rate_limit.as_ref());
        self.id.push(&key.id);
        self.workspace_id.push(&key.workspace_id);
        self.hash.push(key.hash.as_bytes().as_slice());
        self.start.push(&key.start);
        self.imported.push(key.imported);
        self.created_at.push(millis(key.created_at));
        self.name.push(&key.name);
        self.description.push(key.description.as_deref());
        self.owner_id.push(key.owner_id.as_deref());
        self.permissions.push(json_list(&key.permissions));
        self.enabled.push(key.enabled);
        self.expires_at.push(key.expires_at.map(millis));
        self.metadata.push(metadata_json(&key.metadata));
        self.updated_at.push(millis(key.updated_at));
        self.revoked_at.push(key.revoked_at.map(millis));
        self.revoked_reason.push(key.revoked_reason.as_deref());
        self.replaced_by.push(key.replaced_by.as_deref());
        self.ip_allowlist
            .push(json_list(&key.restrictions.ip_allowlist));
        self.origin_allowlist
            .push(json_list(&key.restrictions.origin_allowlist));
        self.rate_limit.push(rate_limit);
        self.rate_limit_window.push(rate_limit_window);
        let credits = CreditColumns::of(key.restrictions.credits.as_ref()).values();
        for (column, value) in self.credits.iter_mut().zip(credits) {
            column.push(value);
        }
    }
}

/// Replaces the [`mutable_columns!`] of the key with `key`'s workspace and id. The credit
/// columns are left alone (see `restrictions::update_credits`).
pub(crate) async fn update(db: impl PgExecutor<'_>, key: &KeyRecord) -> Result<(), StoreError> {
    let query = sqlx::query(concat!(
        "UPDATE keys SET (",
        mutable_columns!(),
        ") = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         WHERE workspace_id = $16 AND id = $17"
    ));
    let query = bind_mutable(query, key)
        .bind(&key.workspace_id)
        .bind(&key.id);
    update_one(db, query).await
}

/// Binds `key`'s values for the [`mutable_columns!`], in their order.
fn bind_mutable<'q>(
    query: Query<'q, Postgres, PgArguments>,
    key: &'q KeyRecord,
) -> Query<'q, Postgres, PgArguments> {
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
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    id: &str,
) -> Result<Option<KeyRecord>, StoreError> {
    let query = sqlx::query_as::<_, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(workspace_id)
    .bind(id);
    fetch_optional(db, query).await
}

/// A workspace's keys matching `filter`, newest first (ids are time-ordered).
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    filter: &KeyFilter,
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut sql = QueryBuilder::<Postgres>::new(concat!(
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
pub(crate) async fn all(db: impl PgExecutor<'_>) -> Result<Vec<KeyRecord>, StoreError> {
    let query =
        sqlx::query_as::<_, KeyRow>(concat!("SELECT ", key_columns!(), " FROM keys ORDER BY id"));
    fetch_all(db, query).await
}

/// Every key of every workspace, streamed to `each` in storage order (no sort: the index
/// needs none).
pub(crate) async fn each(
    db: impl PgExecutor<'_>,
    each: &mut (dyn FnMut(KeyRecord) + Send),
) -> Result<(), StoreError> {
    let mut rows =
        sqlx::query_as::<_, KeyRow>(concat!("SELECT ", key_columns!(), " FROM keys")).fetch(db);
    while let Some(row) = rows.try_next().await.map_err(store_error)? {
        each(row.into_record()?);
    }
    Ok(())
}
