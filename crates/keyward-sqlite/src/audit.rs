//! The audit chain in SQL: appending events inside a caller's transaction (reading and
//! advancing each workspace's head in `audit_heads`; the linking itself is
//! `keyward_core::chain`), and reading events back.
//!
//! `audit_events` carries the indexes the audit queries need (by key, key and action, kind,
//! action, outcome and time) and no more: each one is another B-tree insert for every
//! verification. Its row is lean (migration 0006): the workspace, kind, actor, key and
//! outcome are integer references into `audit_names` (see `names.rs`), the hashes are 32-byte
//! blobs, the event id has no index (nothing looks an event up by id), and the table is
//! `WITHOUT ROWID` on `(workspace_id, seq)` (`scripts/ingest-row-cost.py` compares it with the
//! schema before).
//! Reads resolve the names in SQL (a primary-key lookup per name; a missing name reads as a
//! marker, so the chain check reports that event), filters compare with the id of the name
//! asked for (a constant subquery SQLite evaluates once), and each filtered query names its
//! index (`INDEXED BY`): without statistics SQLite would walk the primary key of a
//! `WITHOUT ROWID` table and filter the whole workspace (a unit test checks the plans).
//! Retention deletes through the kind index, for the same reason.
//!
//! Rows are inserted with multi-row `INSERT OR FAIL` statements in chunks of 256, 64, 16, 4
//! and 1 rows (so only five statements are ever prepared): a failing row ends the statement
//! without undoing the rows before it, which spares SQLite the statement journal it otherwise
//! keeps for a multi-row `INSERT`; every caller abandons its transaction on the first error,
//! so a batch is all or nothing (keyward-store-tests:
//! `audit::a_batch_with_a_refused_event_leaves_nothing_and_the_chain_continues`).

use crate::columns::{millis, to_u64};
use crate::error::store_error;
use crate::names::{Learned, Names};
use crate::rows::EventRow;
use crate::sql::{and_where, fetch_all, statement_runs};
use foldhash::{HashMap, HashMapExt};
use keyward_core::{
    AnchorPoint, AuditEvent, AuditFilter, ChainHead, Checkpoint, EventKind, EventOutcome,
    KeptDigest, NewEvent, StoreError, BROKEN_LINK,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor};

/// The columns every event query selects, in [`EventRow`]'s shape: interned names resolved,
/// hashes as lowercase hex. `e` is `audit_events`.
macro_rules! event_columns {
    () => {
        concat!(
            required_name!("workspace_id"),
            ", e.seq, e.id, e.time, ",
            required_name!("kind"),
            ", ",
            name!("actor_id"),
            ", ",
            name!("actor_name"),
            ", ",
            name!("key_id"),
            ", ",
            name!("key_name"),
            ", e.action, e.resource, ",
            required_name!("outcome"),
            ", e.ip, e.origin, e.user_agent, e.detail, lower(hex(e.prev_hash)) AS prev_hash, \
             lower(hex(e.hash)) AS hash"
        )
    };
}

/// The text of the interned column `$column` of `e`, under the column's name.
macro_rules! name {
    ($column:literal) => {
        concat!(
            "(SELECT value FROM audit_names WHERE id = e.",
            $column,
            ") AS ",
            $column
        )
    };
}

/// [`name!`] for a column that is never NULL. A name missing from `audit_names` (which only
/// tampering can cause) reads as a marker, so the chain check reports that event instead of
/// the whole read failing.
macro_rules! required_name {
    ($column:literal) => {
        concat!(
            "COALESCE((SELECT value FROM audit_names WHERE id = e.",
            $column,
            "), '(missing audit name)') AS ",
            $column
        )
    };
}

/// The id of the name bound at its `?`, for a condition on an interned column: no such name
/// means no such event, and the subquery's NULL matches nothing. SQLite evaluates it once and
/// seeks the column's index with it.
macro_rules! name_id {
    () => {
        concat!(name_id_up_to_the_value!(), "?)")
    };
}

/// [`name_id!`] up to its `?`, for a `QueryBuilder` (which writes the `?` of each bind).
macro_rules! name_id_up_to_the_value {
    () => {
        "(SELECT id FROM audit_names WHERE value = "
    };
}

/// Appends `events` in order, each after its workspace's current head, and advances the heads.
/// Must run inside a write transaction (`BEGIN IMMEDIATE`) so no other writer moves a head
/// between the read and the write. What it returns is for [`Names::learn`] once that
/// transaction has committed.
///
/// The chain is computed in memory (`keyward_core::chain`) and written with multi-row
/// `INSERT`s ([`statement_runs`]): a group-commit batch of a thousand verifications costs a
/// handful of statements, not a thousand (each statement is a round-trip to sqlx's SQLite
/// worker thread).
pub(crate) async fn append<'e>(
    conn: &mut SqliteConnection,
    names: &Names,
    events: impl IntoIterator<Item = &'e NewEvent>,
) -> Result<Learned, StoreError> {
    let events: Vec<&NewEvent> = events.into_iter().collect();
    let (ids, learned) = names
        .resolve(&mut *conn, events.iter().flat_map(|e| interned(e)))
        .await?;
    // Each workspace's head is read once and written once, however many events it gets.
    let mut heads: HashMap<&str, ChainHead> = HashMap::new();
    let mut chained = Vec::with_capacity(events.len());
    for event in events {
        let head = match heads.get_mut(event.workspace_id.as_str()) {
            Some(head) => head,
            None => {
                let head = resume(&mut *conn, &event.workspace_id).await?;
                heads.entry(&event.workspace_id).or_insert(head)
            }
        };
        let row = head.link_with(event, |seq, prev_hash, hash| {
            Row::new(event, seq, prev_hash, hash, &ids)
        })?;
        chained.push(row);
    }
    for rows in statement_runs(&chained) {
        insert(&mut *conn, rows).await?;
    }
    for (workspace_id, head) in heads {
        sqlx::query(
            "INSERT INTO audit_heads (workspace_id, seq, hash) VALUES (?, ?, ?) \
             ON CONFLICT (workspace_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(workspace_id)
        .bind(head.seq)
        .bind(head.hash)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(learned)
}

/// Writes stored events of `workspace_id` as they are (seq and hashes kept) and sets the
/// workspace's head to `head`, inside the caller's write transaction: copying a chain from
/// another database. What it returns is for [`Names::learn`] once that transaction has
/// committed.
pub(crate) async fn import(
    conn: &mut SqliteConnection,
    names: &Names,
    workspace_id: &str,
    events: &[AuditEvent],
    head: &ChainHead,
) -> Result<Learned, StoreError> {
    if events.iter().any(|e| e.event.workspace_id != workspace_id) {
        return Err(StoreError::Corrupt(
            "an imported event belongs to another workspace".into(),
        ));
    }
    let values = events
        .iter()
        .flat_map(|e| interned(&e.event))
        .chain([workspace_id]);
    let (ids, learned) = names.resolve(&mut *conn, values).await?;
    let rows = events
        .iter()
        .map(|e| Row::new(&e.event, e.seq, &e.prev_hash, &e.hash, &ids))
        .collect::<Result<Vec<_>, _>>()?;
    for run in statement_runs(&rows) {
        insert(&mut *conn, run).await?;
    }
    sqlx::query(
        "INSERT INTO audit_heads (workspace_id, seq, hash) VALUES (?, ?, ?) \
         ON CONFLICT (workspace_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )
    .bind(workspace_id)
    .bind(head.seq)
    .bind(&head.hash)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(learned)
}

/// Where a workspace's next event goes: after its head, checked against the events
/// themselves (one seek down the primary key); see [`ChainHead::resume`] for a head that
/// only tampering makes.
async fn resume(conn: &mut SqliteConnection, workspace_id: &str) -> Result<ChainHead, StoreError> {
    let head = head(&mut *conn, workspace_id).await?;
    let (newest,): (Option<i64>,) = sqlx::query_as(concat!(
        "SELECT max(seq) FROM audit_events WHERE workspace_id = ",
        name_id!()
    ))
    .bind(workspace_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    let (head, tampered) = ChainHead::resume(head, newest);
    if let Some(tampered) = tampered {
        tracing::warn!(workspace_id, "{}", tampered.describe());
    }
    Ok(head)
}

/// The event's fields stored as references to `audit_names`.
fn interned(e: &NewEvent) -> impl Iterator<Item = &str> {
    [
        Some(e.workspace_id.as_str()),
        Some(e.kind.as_str()),
        e.actor_id.as_deref(),
        e.actor_name.as_deref(),
        e.key_id.as_deref(),
        e.key_name.as_deref(),
        Some(e.outcome.as_str()),
    ]
    .into_iter()
    .flatten()
}

/// An event placed in its chain as it is stored, borrowing the event (the caller keeps it,
/// e.g. for a retry): interned fields as ids, hashes as bytes.
struct Row<'e> {
    event: &'e NewEvent,
    seq: i64,
    workspace_id: i64,
    kind: i64,
    actor_id: Option<i64>,
    actor_name: Option<i64>,
    key_id: Option<i64>,
    key_name: Option<i64>,
    outcome: i64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
}

impl<'e> Row<'e> {
    fn new(
        event: &'e NewEvent,
        seq: i64,
        prev_hash: &str,
        hash: &str,
        ids: &HashMap<&str, i64>,
    ) -> Result<Self, StoreError> {
        let id = |value: &str| {
            ids.get(value).copied().ok_or_else(|| {
                StoreError::Corrupt("an audit name was not resolved before its event".into())
            })
        };
        let optional = |value: &Option<String>| value.as_deref().map(id).transpose();
        Ok(Self {
            event,
            seq,
            workspace_id: id(&event.workspace_id)?,
            kind: id(&event.kind)?,
            actor_id: optional(&event.actor_id)?,
            actor_name: optional(&event.actor_name)?,
            key_id: optional(&event.key_id)?,
            key_name: optional(&event.key_name)?,
            outcome: id(&event.outcome)?,
            prev_hash: hash_bytes(prev_hash)?,
            hash: hash_bytes(hash)?,
        })
    }
}

/// A chain hash (hex, as computed and as served) as stored: 32 bytes.
fn hash_bytes(hex: &str) -> Result<[u8; 32], StoreError> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(hex, &mut bytes)
        .map_err(|_| StoreError::Corrupt("a chain hash is not 32 bytes of hex".into()))?;
    Ok(bytes)
}

/// `OR FAIL`: a failing row ends the statement without undoing the rows before it, which spares
/// SQLite the statement journal it otherwise keeps for a multi-row `INSERT` (a copy of every
/// page the statement touches, about a fifth of the cost of taking a batch in). Every caller
/// runs inside a transaction it abandons on the first error, so nothing partial is committed.
async fn insert(db: impl SqliteExecutor<'_>, rows: &[Row<'_>]) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(
        "INSERT OR FAIL INTO audit_events (workspace_id, seq, id, time, kind, actor_id, \
         actor_name, key_id, key_name, action, resource, outcome, ip, origin, user_agent, \
         detail, prev_hash, hash) ",
    );
    sql.push_values(rows, |mut row, r| {
        let e = r.event;
        row.push_bind(r.workspace_id)
            .push_bind(r.seq)
            .push_bind(&e.id)
            .push_bind(millis(e.time))
            .push_bind(r.kind)
            .push_bind(r.actor_id)
            .push_bind(r.actor_name)
            .push_bind(r.key_id)
            .push_bind(r.key_name)
            .push_bind(&e.action)
            .push_bind(&e.resource)
            .push_bind(r.outcome)
            .push_bind(&e.ip)
            .push_bind(&e.origin)
            .push_bind(&e.user_agent)
            .push_bind(&e.detail)
            .push_bind(&r.prev_hash[..])
            .push_bind(&r.hash[..]);
    });
    sql.build().execute(db).await.map_err(store_error)?;
    Ok(())
}

/// The last `seq` and `hash` of a workspace's chain. A stored hash that is not text (only
/// tampering makes one) reads as [`BROKEN_LINK`], so the chain check reports it rather than
/// failing to read it.
pub(crate) async fn head(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<ChainHead>, StoreError> {
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT seq, CASE WHEN typeof(hash) = 'text' THEN hash END \
         FROM audit_heads WHERE workspace_id = ?",
    )
    .bind(workspace_id)
    .fetch_optional(db)
    .await
    .map_err(store_error)?;
    Ok(row.map(|(seq, hash)| ChainHead {
        seq,
        hash: hash.unwrap_or_else(|| BROKEN_LINK.to_owned()),
    }))
}

/// A workspace's events matching `filter`, newest first.
pub(crate) async fn newest_first(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new("");
    select_newest_first(&mut sql, workspace_id, filter);
    fetch_all(db, sql.build_query_as::<EventRow>()).await
}

/// Appends the query of [`newest_first`] to `sql` (which tests start with `EXPLAIN QUERY PLAN`).
fn select_newest_first<'a>(
    sql: &mut QueryBuilder<'a, Sqlite>,
    workspace_id: &'a str,
    filter: &'a AuditFilter,
) {
    sql.push(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_events AS e"
    ));
    if let Some(index) = index_for(filter) {
        sql.push(" INDEXED BY ").push(index);
    }
    and_name(sql, " WHERE e.workspace_id", Some(workspace_id));
    and_name(sql, " AND e.key_id", filter.key_id.as_deref());
    and_name(sql, " AND e.kind", filter.kind.map(EventKind::as_str));
    and_where(sql, "e.action = ", filter.action.as_deref());
    and_name(
        sql,
        " AND e.outcome",
        filter.outcome.map(EventOutcome::as_str),
    );
    // `+e.time`: the time is a condition on the rows the chosen index (or, without one, the
    // primary key newest first) yields, never a reason to read the time index and sort.
    and_where(sql, "+e.time >= ", filter.since.map(millis));
    and_where(sql, "+e.time < ", filter.until.map(millis));
    and_where(sql, "e.seq < ", filter.before_seq);
    sql.push(" ORDER BY e.seq DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
}

/// The index that serves `filter`, most selective first; each ends in `seq`, so the page is
/// one range of it read newest first (migrations 0006 and 0013). Named because without
/// statistics (nothing runs `ANALYZE`) SQLite reads a `WITHOUT ROWID` table newest first along
/// its primary key and filters every row of the workspace, where the index seeks straight to
/// them. A filter on time alone walks the primary key newest first (see `+e.time`).
fn index_for(filter: &AuditFilter) -> Option<&'static str> {
    match filter {
        AuditFilter {
            key_id: Some(_),
            action: Some(_),
            ..
        } => Some("audit_events_key_action"),
        AuditFilter {
            key_id: Some(_), ..
        } => Some("audit_events_key"),
        AuditFilter {
            action: Some(_), ..
        } => Some("audit_events_action"),
        AuditFilter {
            outcome: Some(_), ..
        } => Some("audit_events_outcome"),
        AuditFilter { kind: Some(_), .. } => Some("audit_events_kind"),
        _ => None,
    }
}

/// Appends `{column} = ` the id of the name `value` (see [`name_id!`]), when there is a value.
/// `column` starts with its ` AND ` (or ` WHERE `).
fn and_name<'args>(sql: &mut QueryBuilder<'args, Sqlite>, column: &str, value: Option<&'args str>) {
    if let Some(value) = value {
        sql.push(column)
            .push(concat!(" = ", name_id_up_to_the_value!()))
            .push_bind(value)
            .push(")");
    }
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
        " FROM audit_events AS e WHERE e.workspace_id = ",
        name_id!(),
        " AND e.seq > ? ORDER BY e.seq ASC LIMIT ?"
    ))
    .bind(workspace_id)
    .bind(after_seq)
    .bind(i64::from(limit));
    fetch_all(db, query).await
}

/// At most `limit` events of every kind but `key.verified` with `after_seq < seq <=
/// through_seq`, in chain order (see [`from_kept`]).
pub(crate) async fn kept(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
    after_seq: i64,
    through_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(concat!("SELECT ", event_columns!()));
    from_kept(&mut sql, workspace_id);
    sql.push(" AND e.seq > ")
        .push_bind(after_seq)
        .push(" AND e.seq <= ")
        .push_bind(through_seq)
        .push(" ORDER BY e.seq LIMIT ")
        .push_bind(i64::from(limit));
    fetch_all(db, sql.build_query_as::<EventRow>()).await
}

/// Where retention last cut a workspace's chain: the newest `audit.checkpoint` event's
/// checkpoint (by the kind index). One whose detail does not parse (only tampering makes one)
/// reads as none; the chain check reports that event.
pub(crate) async fn checkpoint(
    db: impl SqliteExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<Checkpoint>, StoreError> {
    let row: Option<(Option<String>,)> = sqlx::query_as(concat!(
        "SELECT e.detail FROM audit_events AS e INDEXED BY audit_events_kind \
         WHERE e.workspace_id = ",
        name_id!(),
        " AND e.kind = ",
        name_id!(),
        " ORDER BY e.seq DESC LIMIT 1"
    ))
    .bind(workspace_id)
    .bind(EventKind::AuditCheckpoint.as_str())
    .fetch_optional(db)
    .await
    .map_err(store_error)?;
    Ok(row
        .and_then(|(detail,)| detail)
        .and_then(|detail| serde_json::from_str(&detail).ok()))
}

/// The head of a workspace's chain as an anchor signs it: its seq and hash, and how many
/// events at or before it retention never deletes (one range count per event kind on the
/// kind index, so management events are counted, not the verifications among them).
pub(crate) async fn anchor_point(
    db: &sqlx::SqlitePool,
    workspace_id: &str,
) -> Result<Option<AnchorPoint>, StoreError> {
    let Some(ChainHead { seq, hash }) = head(db, workspace_id).await? else {
        return Ok(None);
    };
    let mut sql = QueryBuilder::<Sqlite>::new("");
    select_kept(&mut sql, workspace_id, seq);
    let rows: Vec<(String,)> = sql
        .build_query_as()
        .fetch_all(db)
        .await
        .map_err(store_error)?;
    let mut digest = KeptDigest::default();
    rows.iter().for_each(|(hash,)| digest.push_kept(hash));
    Ok(Some(AnchorPoint {
        seq,
        hash,
        kept: rows.len() as u64,
        kept_digest: Some(digest.hex().to_owned()),
    }))
}

/// Appends the query of [`anchor_point`]: the hashes (as events read them) of the events of
/// every kind but `key.verified` at or before `seq`, in seq order (see [`from_kept`]).
fn select_kept<'a>(sql: &mut QueryBuilder<'a, Sqlite>, workspace_id: &'a str, seq: i64) {
    sql.push("SELECT lower(hex(e.hash))");
    from_kept(sql, workspace_id);
    sql.push(" AND e.seq <= ")
        .push_bind(seq)
        .push(" ORDER BY e.seq");
}

/// Appends ` FROM audit_events AS e … WHERE` the workspace's events of every kind but
/// `key.verified`: one seek per kind on the kind index, so a sort by seq sorts management
/// events only, the few that retention keeps.
fn from_kept<'a>(sql: &mut QueryBuilder<'a, Sqlite>, workspace_id: &'a str) {
    sql.push(concat!(
        " FROM audit_events AS e INDEXED BY audit_events_kind WHERE e.workspace_id = ",
        name_id_up_to_the_value!()
    ));
    sql.push_bind(workspace_id)
        .push(") AND e.kind IN (SELECT id FROM audit_names WHERE value IN (");
    let mut separated = sql.separated(", ");
    for kind in EventKind::ALL {
        if kind != EventKind::KeyVerified {
            separated.push_bind(kind.as_str());
        }
    }
    sql.push("))");
}

/// Retention's delete, by the kind index: the planner would walk the primary key over every
/// event up to the cut (see [`index_for`] on why it must be told).
const PRUNE: &str = concat!(
    "DELETE FROM audit_events INDEXED BY audit_events_kind WHERE workspace_id = ",
    name_id!(),
    " AND kind = ",
    name_id!(),
    " AND seq <= ? AND time < ?"
);

/// Deletes `kind` events older than `before_ms` and returns how many, with the new checkpoint
/// at the newest event (of any kind) older than the cut, which the caller appends to the chain
/// as an `audit.checkpoint` event in the same transaction. `None` when the cut has not moved.
///
/// The chain stays verifiable: nothing after the checkpoint is deleted, so the chain resumes
/// from the checkpoint's hash; at or before it the kept events still hash as stored, and
/// `retained` says how many must be there.
pub(crate) async fn prune(
    conn: &mut SqliteConnection,
    workspace_id: &str,
    kind: EventKind,
    before_ms: i64,
) -> Result<Option<(u64, Checkpoint)>, StoreError> {
    // The cut: the newest event (of any kind) older than `before`, newest by time: one seek
    // down the time index, where newest by `seq` sorted every event older than `before`
    // inside the write transaction (an hour of verifications at each hourly run, every
    // verification ever on the first). Events are
    // appended in about time order, so an event after the cut may be older than `before`
    // too; it stays until the next run. Its hash is read before anything is deleted, because
    // it may be one of the deleted events.
    let cut: Option<(i64, String)> = sqlx::query_as(concat!(
        "SELECT seq, lower(hex(hash)) FROM audit_events WHERE workspace_id = ",
        name_id!(),
        " AND time < ? ORDER BY time DESC, seq DESC LIMIT 1"
    ))
    .bind(workspace_id)
    .bind(before_ms)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    let Some((cut_seq, cut_hash)) = cut else {
        return Ok(None);
    };
    let previous = checkpoint(&mut *conn, workspace_id).await?;
    if previous.as_ref().is_some_and(|p| p.seq >= cut_seq) {
        return Ok(None);
    }
    // Events are appended in about, not exactly, time order (a verification is stamped before
    // its batch commits), so an event before the cut may be newer than `before`: it stays.
    let deleted = sqlx::query(PRUNE)
        .bind(workspace_id)
        .bind(kind.as_str())
        .bind(cut_seq)
        .bind(before_ms)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?
        .rows_affected();
    let (retained,): (i64,) = sqlx::query_as(concat!(
        "SELECT COUNT(*) FROM audit_events WHERE workspace_id = ",
        name_id!(),
        " AND seq <= ?"
    ))
    .bind(workspace_id)
    .bind(cut_seq)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    let checkpoint = Checkpoint {
        seq: cut_seq,
        hash: cut_hash,
        retained: to_u64(retained, &format!("checkpoint of {workspace_id}: retained"))?,
    };
    Ok(Some((deleted, checkpoint)))
}

/// Retention checkpoints written before they were chained events (migration 0007 set the
/// old table aside): each becomes an `audit.checkpoint` event at the end of its chain, once,
/// and the table goes. Runs inside the caller's write transaction; returns the events'
/// interned names for [`Names::learn`] after the commit.
pub(crate) async fn adopt_unchained_checkpoints(
    conn: &mut SqliteConnection,
    names: &Names,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Learned>, StoreError> {
    let (exists,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
         AND name = 'audit_checkpoints_unchained'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    if exists == 0 {
        return Ok(None);
    }
    let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT workspace_id, seq, hash, retained FROM audit_checkpoints_unchained \
         ORDER BY workspace_id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let mut events = Vec::with_capacity(rows.len());
    for (workspace_id, seq, hash, retained) in rows {
        let checkpoint = Checkpoint {
            seq,
            hash,
            retained: to_u64(retained, &format!("checkpoint of {workspace_id}: retained"))?,
        };
        events.push(checkpoint.event(&workspace_id, now));
    }
    let learned = append(&mut *conn, names, &events).await?;
    sqlx::query("DROP TABLE audit_checkpoints_unchained")
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(Some(learned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use chrono::DateTime;
    use keyward_core::Store;

    /// Each filter the API and the dashboard offer, with the index that must serve it (`None`:
    /// the primary key, newest first).
    fn filters() -> Vec<(AuditFilter, Option<&'static str>)> {
        let some = |s: &str| Some(s.to_owned());
        let time = DateTime::from_timestamp_millis;
        vec![
            (
                AuditFilter {
                    key_id: some("key_a"),
                    ..AuditFilter::default()
                },
                Some("audit_events_key"),
            ),
            (
                AuditFilter {
                    key_id: some("key_a"),
                    kind: Some(EventKind::KeyVerified),
                    ..AuditFilter::default()
                },
                Some("audit_events_key"),
            ),
            (
                AuditFilter {
                    key_id: some("key_a"),
                    action: some("invoices.delete"),
                    ..AuditFilter::default()
                },
                Some("audit_events_key_action"),
            ),
            (
                AuditFilter {
                    action: some("invoices.delete"),
                    ..AuditFilter::default()
                },
                Some("audit_events_action"),
            ),
            (
                AuditFilter {
                    kind: Some(EventKind::KeyRevoked),
                    ..AuditFilter::default()
                },
                Some("audit_events_kind"),
            ),
            (
                AuditFilter {
                    outcome: Some(EventOutcome::Verify(keyward_core::VerifyCode::Revoked)),
                    ..AuditFilter::default()
                },
                Some("audit_events_outcome"),
            ),
            (
                AuditFilter {
                    outcome: Some(EventOutcome::Verify(keyward_core::VerifyCode::Revoked)),
                    since: time(1),
                    until: time(2),
                    ..AuditFilter::default()
                },
                Some("audit_events_outcome"),
            ),
            // Paging back through one key's events, and an action over a time range.
            (
                AuditFilter {
                    key_id: some("key_a"),
                    before_seq: Some(1_000),
                    ..AuditFilter::default()
                },
                Some("audit_events_key"),
            ),
            (
                AuditFilter {
                    action: some("invoices.delete"),
                    since: time(1),
                    until: time(2),
                    ..AuditFilter::default()
                },
                Some("audit_events_action"),
            ),
            (
                AuditFilter {
                    since: time(1),
                    until: time(2),
                    ..AuditFilter::default()
                },
                None,
            ),
        ]
    }

    /// Asserts that every filter seeks its index (or the primary key) without sorting.
    async fn assert_plans(store: &SqliteStore) {
        for (filter, index) in filters() {
            let filter = AuditFilter {
                limit: 10,
                ..filter
            };
            let mut sql = QueryBuilder::<Sqlite>::new("EXPLAIN QUERY PLAN ");
            select_newest_first(&mut sql, "ws_a", &filter);
            let plan: Vec<(i64, i64, i64, String)> =
                sql.build_query_as().fetch_all(&store.reader).await.unwrap();
            let main = &plan
                .iter()
                .find(|row| row.3.starts_with("SEARCH e"))
                .unwrap_or_else(|| panic!("{filter:?} scans: {plan:?}"))
                .3;
            let index = index.unwrap_or("PRIMARY KEY");
            assert!(main.contains(index), "{filter:?}: {main}");
            assert!(
                !plan.iter().any(|row| row.3.contains("TEMP B-TREE")),
                "{filter:?} sorts: {plan:?}"
            );
            // And the query runs.
            newest_first(&store.reader, "ws_a", &filter).await.unwrap();
        }
    }

    /// Every filter is served by its index, whatever SQLite would estimate: on an empty table
    /// (no statistics), and on one with statistics (`ANALYZE`) where most events are one
    /// key's verifications, the shape that tempts the planner towards another index.
    #[tokio::test]
    async fn filtered_queries_seek_their_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        assert_plans(&store).await;

        // Names 1..=5: the workspace, two kinds, the key, an outcome; 20,000 events.
        sqlx::query(
            "INSERT INTO audit_names (id, value) VALUES (1, 'ws_a'), (2, 'key.verified'), \
             (3, 'key.revoked'), (4, 'key_a'), (5, 'REVOKED')",
        )
        .execute(&store.writer)
        .await
        .unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO audit_events (workspace_id, seq, id, time, kind, key_id, action, \
             outcome, prev_hash, hash) SELECT 1, i, 'ev_' || i, i, 2 + (i % 100 = 0), 4, \
             'invoices.' || (i % 7), 5 * (i % 50 = 0) + (i % 50 <> 0), zeroblob(32), \
             zeroblob(32) FROM n",
        )
        .execute(&store.writer)
        .await
        .unwrap();
        sqlx::query("ANALYZE").execute(&store.writer).await.unwrap();
        assert_plans(&store).await;
    }

    #[tokio::test]
    async fn retention_deletes_by_the_kind_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {PRUNE}"))
                .bind("ws_a")
                .bind("key.verified")
                .bind(10)
                .bind(10)
                .fetch_all(&store.writer)
                .await
                .unwrap();
        assert!(
            plan.iter().any(|row| row
                .3
                .contains("audit_events_kind (workspace_id=? AND kind=? AND seq<?)")),
            "{plan:?}"
        );
    }

    /// Anchoring counts management events, and `audit verify --anchor` reads them, by seeking
    /// the kind index per kind, never by walking every verification.
    #[tokio::test]
    async fn the_kept_events_are_read_by_seeking_the_kind_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let mut counted = QueryBuilder::<Sqlite>::new("EXPLAIN QUERY PLAN ");
        select_kept(&mut counted, "ws_a", 10);
        let mut read = QueryBuilder::<Sqlite>::new("EXPLAIN QUERY PLAN SELECT e.seq");
        from_kept(&mut read, "ws_a");
        read.push(" AND e.seq > 2 AND e.seq <= 10 ORDER BY e.seq LIMIT 5");
        for (mut sql, seek) in [
            (
                counted,
                "audit_events_kind (workspace_id=? AND kind=? AND seq<?)",
            ),
            (
                read,
                "audit_events_kind (workspace_id=? AND kind=? AND seq>? AND seq<?)",
            ),
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sql.build_query_as().fetch_all(&store.reader).await.unwrap();
            assert!(plan.iter().any(|row| row.3.contains(seek)), "{plan:?}");
            assert!(
                !plan.iter().any(|row| row.3.starts_with("SCAN")),
                "{plan:?}"
            );
        }
    }
}
