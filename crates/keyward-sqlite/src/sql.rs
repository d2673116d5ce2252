//! Statement helpers shared by the SQL modules: fetching rows as records, optional filter
//! conditions, the update of one record that must exist, and multi-row statements in a few
//! fixed sizes.

use crate::error::store_error;
use keyward_core::StoreError;
use keyward_sql::IntoRecord;
use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

/// A row type this driver reads that converts into its domain record
/// (`keyward_sql::rows`).
pub(crate) trait Row:
    IntoRecord + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin
{
}

impl<R: IntoRecord + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin> Row for R {}

/// Every row of `query`, each converted to its record.
pub(crate) async fn fetch_all<'q, R: Row>(
    db: impl SqliteExecutor<'_>,
    query: QueryAs<'q, Sqlite, R, SqliteArguments<'q>>,
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
    db: impl SqliteExecutor<'_>,
    query: QueryAs<'q, Sqlite, R, SqliteArguments<'q>>,
) -> Result<Option<R::Record>, StoreError> {
    query
        .fetch_optional(db)
        .await
        .map_err(store_error)?
        .map(R::into_record)
        .transpose()
}

/// Runs an `UPDATE … WHERE workspace_id = ? AND id = ?`. Matching no row means the record
/// does not exist in that workspace, which is [`StoreError::NotFound`].
pub(crate) async fn update_one<'q>(
    db: impl SqliteExecutor<'_>,
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
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
    sql: &mut QueryBuilder<'args, Sqlite>,
    condition: &str,
    value: Option<T>,
) where
    T: 'args + sqlx::Encode<'args, Sqlite> + sqlx::Type<Sqlite>,
{
    if let Some(value) = value {
        sql.push(" AND ").push(condition).push_bind(value);
    }
}

/// Rows per multi-row statement, largest first. 256 rows of 18 columns stay far below
/// SQLite's limit of 32,766 bound parameters. Only these sizes are used (300 rows are
/// 256 + 16 + 16 + 4 + 4 + 4), so each kind of statement is prepared five times at most and
/// stays in the connection's statement cache, where a size per batch would be prepared anew
/// almost every time.
const STATEMENT_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// `items` cut into runs of [`STATEMENT_SIZES`], largest first, in order: one statement each.
pub(crate) fn statement_runs<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    let mut sizes = STATEMENT_SIZES.into_iter().peekable();
    std::iter::from_fn(move || {
        let size = loop {
            let size = *sizes.peek()?;
            if rest.len() >= size {
                break size;
            }
            sizes.next();
        };
        let (run, after) = rest.split_at(size);
        rest = after;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::statement_runs;

    #[test]
    fn runs_use_the_fixed_sizes_largest_first_and_keep_every_item_in_order() {
        let items: Vec<u32> = (0..300).collect();
        let runs: Vec<&[u32]> = statement_runs(&items).collect();
        let sizes: Vec<usize> = runs.iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [256, 16, 16, 4, 4, 4]);
        assert_eq!(runs.concat(), items);
        assert_eq!(statement_runs::<u32>(&[]).count(), 0);
        assert_eq!(statement_runs(&[7]).collect::<Vec<_>>(), [&[7][..]]);
    }
}
