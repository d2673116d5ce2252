//! The audit chain in SQL: appending events inside a caller's transaction (reading and
//! advancing each workspace's head in `audit_heads`), and reading events back.

use crate::error::store_error;
use crate::rows::{millis, to_u64, EventRow};
use crate::sql::{and_where, fetch_all};
use keyward_core::audit::GENESIS_HASH;
use keyward_core::{AuditEvent, AuditFilter, Checkpoint, NewEvent, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor};
use std::collections::HashMap;

/// The columns every event query selects, in [`EventRow`]'s shape.
macro_rules! event_columns {
    () => {
        "workspace_id, seq, id, time, kind, actor_id, actor_name, key_id, key_name, action, \
         resource, outcome, ip, origin, user_agent, detail, prev_hash, hash"
    };
}

/// Rows per `INSERT` statement when appending a batch, largest first: 256 rows of 18 columns
/// stay far below SQLite's limit of 32,766 bound parameters. Only these sizes are used (a
/// batch of 300 is 256 + 16 + 16 + 4 + 4 + 4), so only five statements are ever prepared and
/// each stays in the connection's statement cache, where a size per batch would be prepared
/// anew almost every time.
const INSERT_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// Appends `events` in order, each after its workspace's current head, and advances the heads.
/// Must run inside a write transaction (`BEGIN IMMEDIATE`) so no other writer moves a head
/// between the read and the write.
///
/// The chain is computed in memory and written with multi-row `INSERT`s: a group-commit batch
/// of a thousand verifications costs a handful of statements, not a thousand (each statement
/// is a round-trip to sqlx's SQLite worker thread).
pub(crate) async fn append<'e>(
    conn: &mut SqliteConnection,
    events: impl IntoIterator<Item = &'e NewEvent>,
) -> Result<(), StoreError> {
    // Each workspace's head is read once and written once, however many events it gets.
    let mut heads: HashMap<String, (i64, String)> = HashMap::new();
    let mut chained = Vec::new();
    for event in events {
        let (prev_seq, prev_hash) = match heads.remove(&event.workspace_id) {
            Some(head) => head,
            None => head(&mut *conn, &event.workspace_id)
                .await?
                .unwrap_or_else(|| (0, GENESIS_HASH.to_owned())),
        };
        let seq = prev_seq + 1;
        let hash = AuditEvent::hash_of(event, seq, &prev_hash);
        heads.insert(event.workspace_id.clone(), (seq, hash.clone()));
        chained.push(Row {
            event,
            seq,
            prev_hash,
            hash,
        });
    }
    let mut rest = &chained[..];
    for size in INSERT_SIZES {
        while rest.len() >= size {
            let (rows, after) = rest.split_at(size);
            insert(&mut *conn, rows).await?;
            rest = after;
        }
    }
    for (workspace_id, (seq, hash)) in heads {
        sqlx::query(
            "INSERT INTO audit_heads (workspace_id, seq, hash) VALUES (?, ?, ?) \
             ON CONFLICT (workspace_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(workspace_id)
        .bind(seq)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

/// An event placed in its chain, borrowing the event (the caller keeps it, e.g. for a retry).
struct Row<'e> {
    event: &'e NewEvent,
    seq: i64,
    prev_hash: String,
    hash: String,
}

/// `OR FAIL`: a failing row ends the statement without undoing the rows before it, which spares
/// SQLite the statement journal it otherwise keeps for a multi-row `INSERT` (a copy of every
/// page the statement touches, about a fifth of the cost of taking a batch in). Every caller
/// runs inside a transaction it abandons on the first error, so nothing partial is committed.
async fn insert(db: impl SqliteExecutor<'_>, rows: &[Row<'_>]) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(concat!(
        "INSERT OR FAIL INTO audit_events (",
        event_columns!(),
        ") "
    ));
    sql.push_values(rows, |mut row, chained| {
        let e = chained.event;
        row.push_bind(&e.workspace_id)
            .push_bind(chained.seq)
            .push_bind(&e.id)
            .push_bind(millis(e.time))
            .push_bind(&e.kind)
            .push_bind(&e.actor_id)
            .push_bind(&e.actor_name)
            .push_bind(&e.key_id)
            .push_bind(&e.key_name)
            .push_bind(&e.action)
            .push_bind(&e.resource)
            .push_bind(&e.outcome)
            .push_bind(&e.ip)
            .push_bind(&e.origin)
            .push_bind(&e.user_agent)
            .push_bind(&e.detail)
            .push_bind(&chained.prev_hash)
            .push_bind(&chained.hash);
    });
    sql.build().execute(db).await.map_err(store_error)?;
    Ok(())
}

/// The last `seq` and `hash` of a workspace's chain.
pub(crate) async fn head(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<(i64, String)>, StoreError> {
    sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM audit_heads WHERE workspace_id = ?")
        .bind(workspace_id)
        .fetch_optional(db)
        .await
        .map_err(store_error)
}

/// A workspace's events matching `filter`, newest first.
pub(crate) async fn newest_first(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_events WHERE workspace_id = "
    ));
    sql.push_bind(workspace_id);
    and_where(&mut sql, "key_id = ", filter.key_id.as_deref());
    and_where(&mut sql, "kind = ", filter.kind.as_deref());
    and_where(&mut sql, "action = ", filter.action.as_deref());
    and_where(&mut sql, "outcome = ", filter.outcome.as_deref());
    and_where(&mut sql, "time >= ", filter.since.map(millis));
    and_where(&mut sql, "time < ", filter.until.map(millis));
    and_where(&mut sql, "seq < ", filter.before_seq);
    sql.push(" ORDER BY seq DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    fetch_all(db, sql.build_query_as::<EventRow>()).await
}

/// At most `limit` events after `after_seq`, in chain order.
pub(crate) async fn ascending(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let query = sqlx::query_as::<_, EventRow>(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_events WHERE workspace_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
    ))
    .bind(workspace_id)
    .bind(after_seq)
    .bind(i64::from(limit));
    fetch_all(db, query).await
}

/// Where retention last cut a workspace's chain.
pub(crate) async fn checkpoint(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<Checkpoint>, StoreError> {
    let row: Option<(i64, String, i64)> =
        sqlx::query_as("SELECT seq, hash, retained FROM audit_checkpoints WHERE workspace_id = ?")
            .bind(workspace_id)
            .fetch_optional(db)
            .await
            .map_err(store_error)?;
    row.map(|(seq, hash, retained)| {
        Ok(Checkpoint {
            seq,
            hash,
            retained: to_u64(retained, &format!("checkpoint of {workspace_id}: retained"))?,
        })
    })
    .transpose()
}

/// Deletes `kind` events older than `before_ms` and moves the checkpoint to the newest event
/// (of any kind) older than the cut. Must run inside a write transaction.
///
/// The chain stays verifiable: nothing after the checkpoint is deleted, so the chain resumes
/// from the checkpoint's hash; at or before it the kept events still hash as stored, and
/// `retained` says how many must be there.
pub(crate) async fn prune(
    conn: &mut SqliteConnection,
    workspace_id: &str,
    kind: &str,
    before_ms: i64,
) -> Result<u64, StoreError> {
    // The cut: the newest event (of any kind) older than `before`, newest by time: one seek
    // down the time index, where newest by `seq` sorted every event older than `before`
    // inside the write transaction (an hour of verifications at each hourly run, every
    // verification ever on the first). Events are
    // appended in about time order, so an event after the cut may be older than `before`
    // too; it stays until the next run. Its hash is read before anything is deleted, because
    // it may be one of the deleted events.
    let cut: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE workspace_id = ? AND time < ? \
         ORDER BY time DESC, seq DESC LIMIT 1",
    )
    .bind(workspace_id)
    .bind(before_ms)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    let Some((cut_seq, cut_hash)) = cut else {
        return Ok(0);
    };
    let previous = checkpoint(&mut *conn, workspace_id).await?;
    if previous.as_ref().is_some_and(|p| p.seq >= cut_seq) {
        return Ok(0);
    }
    // Events are appended in about, not exactly, time order (a verification is stamped before
    // its batch commits), so an event before the cut may be newer than `before`: it stays.
    let deleted = sqlx::query(
        "DELETE FROM audit_events WHERE workspace_id = ? AND kind = ? AND seq <= ? AND time < ?",
    )
    .bind(workspace_id)
    .bind(kind)
    .bind(cut_seq)
    .bind(before_ms)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?
    .rows_affected();
    let (retained,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE workspace_id = ? AND seq <= ?")
            .bind(workspace_id)
            .bind(cut_seq)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
    sqlx::query(
        "INSERT INTO audit_checkpoints (workspace_id, seq, hash, retained) VALUES (?, ?, ?, ?) \
         ON CONFLICT (workspace_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
         retained = excluded.retained",
    )
    .bind(workspace_id)
    .bind(cut_seq)
    .bind(cut_hash)
    .bind(retained)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(deleted)
}
