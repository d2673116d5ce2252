//! Statement helpers shared by the SQL modules: fetching rows as records, optional filter
//! conditions, and the update of one record that must exist.

use crate::error::store_error;
use keyward_core::StoreError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{PgExecutor, Postgres, QueryBuilder};

/// A row type that converts into its domain record, checking everything it read.
pub(crate) trait Row: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {
    type Record;
    fn into_record(self) -> Result<Self::Record, StoreError>;
}

/// Every row of `query`, each converted to its record.
pub(crate) async fn fetch_all<'q, R: Row>(
    db: impl PgExecutor<'_>,
    query: QueryAs<'q, Postgres, R, PgArguments>,
) -> Result<Vec<R::Record>, StoreError> {
    query
        .fetch_all(db)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(R::into_record)
        .collect()
}

/// The row of `query`, if any, converted to its record.
pub(crate) async fn fetch_optional<'q, R: Row>(
    db: impl PgExecutor<'_>,
    query: QueryAs<'q, Postgres, R, PgArguments>,
) -> Result<Option<R::Record>, StoreError> {
    query
        .fetch_optional(db)
        .await
        .map_err(store_error)?
        .map(R::into_record)
        .transpose()
}

/// Runs an `UPDATE … WHERE workspace_id = $n AND id = $m`. Matching no row means the record
/// does not exist in that workspace, which is [`StoreError::NotFound`].
pub(crate) async fn update_one<'q>(
    db: impl PgExecutor<'_>,
    query: Query<'q, Postgres, PgArguments>,
) -> Result<(), StoreError> {
    let done = query.execute(db).await.map_err(store_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Appends ` AND {condition}` and binds `value` after it, when there is a value: `condition`
/// ends with its operator, e.g. `"key_id = "`.
pub(crate) fn and_where<'args, T>(
    sql: &mut QueryBuilder<'args, Postgres>,
    condition: &str,
    value: Option<T>,
) where
    T: 'args + sqlx::Encode<'args, Postgres> + sqlx::Type<Postgres>,
{
    if let Some(value) = value {
        sql.push(" AND ").push(condition).push_bind(value);
    }
}
