//! SQL for the change log (`keyward_core::changes`): a row recorded inside the writing
//! transaction, read in sequence order by followers, pruned by age.

use crate::columns::{millis, time};
use crate::error::store_error;
use chrono::{DateTime, Utc};
use keyward_core::{Change, ChangedObject, StoreError};
use sqlx::SqliteExecutor;

/// Records that `object` `id` of `workspace_id` changed at `at`; call inside the write's
/// transaction.
pub(crate) async fn record(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    object: ChangedObject,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO changes (workspace_id, object, object_id, at) VALUES (?, ?, ?, ?)")
        .bind(workspace_id)
        .bind(object.as_str())
        .bind(id)
        .bind(millis(at))
        .execute(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn since(
    db: impl SqliteExecutor<'_>,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<Change>, StoreError> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT seq, workspace_id, object, object_id FROM changes WHERE seq > ? \
         ORDER BY seq LIMIT ?",
    )
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
    .map_err(store_error)?;
    rows.into_iter()
        .map(|(seq, workspace_id, object, id)| Change::from_stored(seq, workspace_id, &object, id))
        .collect()
}

pub(crate) async fn last(db: impl SqliteExecutor<'_>) -> Result<i64, StoreError> {
    // The newest row is never pruned, so its seq is the log's end.
    let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM changes")
        .fetch_one(db)
        .await
        .map_err(store_error)?;
    Ok(seq)
}

/// Deletes changes older than `before`, keeping the newest.
pub(crate) async fn prune(
    db: impl SqliteExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM changes WHERE at < ? AND seq < (SELECT MAX(seq) FROM changes)")
            .bind(millis(before))
            .execute(db)
            .await
            .map_err(store_error)?;
    Ok(done.rows_affected())
}

/// The change numbered `seq` and when it was recorded, while the log holds it.
pub(crate) async fn at(
    db: impl SqliteExecutor<'_>,
    seq: i64,
) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
    let row: Option<(String, String, String, i64)> =
        sqlx::query_as("SELECT workspace_id, object, object_id, at FROM changes WHERE seq = ?")
            .bind(seq)
            .fetch_optional(db)
            .await
            .map_err(store_error)?;
    let Some((workspace_id, object, id, at)) = row else {
        return Ok(None);
    };
    let change = Change::from_stored(seq, workspace_id, &object, id)?;
    Ok(Some((change, time(at, &format!("change {seq} at"))?)))
}
