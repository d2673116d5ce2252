//! SQL for the change log (`keyward_core::changes`): rows recorded inside the writing
//! transaction with numbers from `change_counter` (gap-free, in commit order: see
//! `migrations/0008_changes.sql`) and announced with `pg_notify` on commit; read in sequence
//! order by followers; pruned by age.

use crate::columns::{millis, time};
use crate::error::store_error;
use chrono::{DateTime, Utc};
use keyward_core::{Change, ChangedObject, StoreError};
use sqlx::{PgConnection, PgExecutor};

/// The channel changes are announced on; the payload is the sequence number only.
pub(crate) const CHANNEL: &str = "keyward_changes";

/// Records that each of `objects` changed at `at`, then announces the last number. Call
/// inside the write's transaction, after its other writes and before its audit events: the
/// counter's lock is held from here to the commit, and is always taken before a chain head's.
pub(crate) async fn record(
    tx: &mut PgConnection,
    objects: &[(&str, ChangedObject, &str)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if objects.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(objects.len())
        .map_err(|_| StoreError::Corrupt("too many changes in one write".into()))?;
    let workspace_ids: Vec<&str> = objects.iter().map(|(w, _, _)| *w).collect();
    let kinds: Vec<&str> = objects.iter().map(|(_, o, _)| o.as_str()).collect();
    let ids: Vec<&str> = objects.iter().map(|(_, _, id)| *id).collect();
    // One statement whatever the number of objects: the counter row is locked and moved by
    // `count`, and the objects take the numbers it skipped, in their order (a bulk import
    // records a hundred thousand changes this way).
    let (last,): (i64,) = sqlx::query_as(
        "WITH next AS (UPDATE change_counter SET seq = seq + $1 WHERE id = 1 RETURNING seq), \
         inserted AS (INSERT INTO changes (seq, workspace_id, object, object_id, at) \
           SELECT next.seq - $1 + o.ord, o.workspace_id, o.object, o.object_id, $5 \
           FROM next, UNNEST($2::text[], $3::text[], $4::text[]) \
             WITH ORDINALITY AS o(workspace_id, object, object_id, ord)) \
         SELECT seq FROM next",
    )
    .bind(count)
    .bind(workspace_ids)
    .bind(kinds)
    .bind(ids)
    .bind(millis(at))
    .fetch_one(&mut *tx)
    .await
    .map_err(store_error)?;
    // Delivered to listeners when (and only if) the transaction commits.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(last.to_string())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn since(
    db: impl PgExecutor<'_>,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<Change>, StoreError> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT seq, workspace_id, object, object_id FROM changes WHERE seq > $1 \
         ORDER BY seq LIMIT $2",
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

pub(crate) async fn last(db: impl PgExecutor<'_>) -> Result<i64, StoreError> {
    let (seq,): (i64,) = sqlx::query_as("SELECT seq FROM change_counter WHERE id = 1")
        .fetch_one(db)
        .await
        .map_err(store_error)?;
    Ok(seq)
}

/// Deletes changes older than `before`, keeping the newest.
pub(crate) async fn prune(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM changes WHERE at < $1 AND seq < (SELECT MAX(seq) FROM changes)")
            .bind(millis(before))
            .execute(db)
            .await
            .map_err(store_error)?;
    Ok(done.rows_affected())
}

/// The change numbered `seq` and when it was recorded, while the log holds it.
pub(crate) async fn at(
    db: impl PgExecutor<'_>,
    seq: i64,
) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
    let row: Option<(String, String, String, i64)> =
        sqlx::query_as("SELECT workspace_id, object, object_id, at FROM changes WHERE seq = $1")
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
