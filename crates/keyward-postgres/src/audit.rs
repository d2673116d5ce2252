//! The audit chain in SQL: appending events inside a caller's transaction under each
//! workspace's head lock (the linking itself is `keyward_core::chain`), reading events back,
//! and retention.
//!
//! Appending locks the workspace's row of `audit_heads` before reading it, so appends from any
//! number of nodes (each its own pool) queue on that row and form one gap-free chain; the lock
//! is held until the caller's transaction ends. A batch locks its workspaces' heads in id
//! order, so two batches can never wait for each other's heads. Rows go in with one
//! `INSERT … SELECT FROM UNNEST(arrays)` per batch: one statement (prepared once, whatever the
//! batch size) instead of one per event.
//!
//! Events are stored with their fields as hashed (times in unix milliseconds, hashes as the
//! lowercase hex the chain computes), so a chain copied from another engine verifies here.

use crate::columns::{millis, to_u64};
use crate::error::store_error;
use crate::partitions;
use crate::rows::EventRow;
use crate::sql::{and_where, fetch_all};
use keyward_core::audit::GENESIS_HASH;
use keyward_core::{
    AnchorPoint, AuditEvent, AuditFilter, ChainHead, Checkpoint, EventKind, EventOutcome,
    KeptDigest, NewEvent, StoreError,
};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use std::collections::BTreeMap;

/// The columns every event query selects, in [`EventRow`]'s shape.
macro_rules! event_columns {
    () => {
        "workspace_id, seq, id, time, kind, actor_id, actor_name, key_id, key_name, action, \
         resource, outcome, ip, origin, user_agent, detail, prev_hash, hash"
    };
}

/// Locks the workspace's chain head until the transaction ends and returns where its next
/// event goes: after the head, checked against the events themselves (see
/// [`ChainHead::resume`] for a head only tampering makes). A workspace without a head gets one
/// at the genesis, locked like any other (the insert's row lock).
pub(crate) async fn lock_head(
    conn: &mut PgConnection,
    workspace_id: &str,
) -> Result<ChainHead, StoreError> {
    // The partitions' lock before the head's (see `partitions.rs`).
    partitions::lock_for_append(&mut *conn).await?;
    // `DO UPDATE` (a no-op) rather than `DO NOTHING`: it locks the existing row and returns it.
    let (seq, hash): (i64, String) = sqlx::query_as(
        "INSERT INTO audit_heads (workspace_id, seq, hash) VALUES ($1, 0, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET seq = audit_heads.seq RETURNING seq, hash",
    )
    .bind(workspace_id)
    .bind(GENESIS_HASH)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    let (newest,): (Option<i64>,) =
        sqlx::query_as("SELECT max(seq) FROM audit_events WHERE workspace_id = $1")
            .bind(workspace_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
    let (head, tampered) = ChainHead::resume(Some(ChainHead { seq, hash }), newest);
    if let Some(tampered) = tampered {
        tracing::warn!(workspace_id, "{}", tampered.describe());
    }
    Ok(head)
}

/// Appends `events` in order, each after its workspace's current head, and advances the heads,
/// inside the caller's transaction.
pub(crate) async fn append<'e>(
    conn: &mut PgConnection,
    events: impl IntoIterator<Item = &'e NewEvent>,
) -> Result<(), StoreError> {
    let events: Vec<&NewEvent> = events.into_iter().collect();
    if events.is_empty() {
        return Ok(());
    }
    // Every head this batch touches, locked in id order (a BTreeMap iterates sorted).
    let mut heads: BTreeMap<&str, ChainHead> = events
        .iter()
        .map(|e| (e.workspace_id.as_str(), ChainHead::genesis()))
        .collect();
    for (workspace_id, head) in heads.iter_mut() {
        *head = lock_head(&mut *conn, workspace_id).await?;
    }
    let mut rows = Columns::with_capacity(events.len());
    for event in events {
        let head = heads
            .get_mut(event.workspace_id.as_str())
            .ok_or_else(|| StoreError::Corrupt("an event's chain head was not locked".into()))?;
        head.link_with(event, |seq, prev_hash, hash| {
            rows.push(event, seq, prev_hash, hash)
        });
    }
    rows.insert(&mut *conn).await?;
    for (workspace_id, head) in heads {
        sqlx::query("UPDATE audit_heads SET seq = $1, hash = $2 WHERE workspace_id = $3")
            .bind(head.seq)
            .bind(head.hash)
            .bind(workspace_id)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Writes stored events of `workspace_id` as they are (seq and hashes kept) and sets the
/// workspace's head to `head`, inside the caller's transaction: copying a chain from another
/// database.
pub(crate) async fn import(
    conn: &mut PgConnection,
    workspace_id: &str,
    events: &[AuditEvent],
    head: &ChainHead,
) -> Result<(), StoreError> {
    if events.iter().any(|e| e.event.workspace_id != workspace_id) {
        return Err(StoreError::Corrupt(
            "an imported event belongs to another workspace".into(),
        ));
    }
    lock_head(&mut *conn, workspace_id).await?;
    let mut rows = Columns::with_capacity(events.len());
    for e in events {
        rows.push(&e.event, e.seq, &e.prev_hash, &e.hash);
    }
    rows.insert(&mut *conn).await?;
    sqlx::query("UPDATE audit_heads SET seq = $1, hash = $2 WHERE workspace_id = $3")
        .bind(head.seq)
        .bind(&head.hash)
        .bind(workspace_id)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Chained events as one array per column, for `UNNEST`.
#[derive(Default)]
struct Columns<'e> {
    workspace_id: Vec<&'e str>,
    seq: Vec<i64>,
    id: Vec<&'e str>,
    time: Vec<i64>,
    kind: Vec<&'e str>,
    actor_id: Vec<Option<&'e str>>,
    actor_name: Vec<Option<&'e str>>,
    key_id: Vec<Option<&'e str>>,
    key_name: Vec<Option<&'e str>>,
    action: Vec<Option<&'e str>>,
    resource: Vec<Option<&'e str>>,
    outcome: Vec<&'e str>,
    ip: Vec<Option<&'e str>>,
    origin: Vec<Option<&'e str>>,
    user_agent: Vec<Option<&'e str>>,
    detail: Vec<Option<&'e str>>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl<'e> Columns<'e> {
    fn with_capacity(n: usize) -> Self {
        Self {
            seq: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    fn push(&mut self, e: &'e NewEvent, seq: i64, prev_hash: &str, hash: &str) {
        self.workspace_id.push(&e.workspace_id);
        self.seq.push(seq);
        self.id.push(&e.id);
        self.time.push(millis(e.time));
        self.kind.push(&e.kind);
        self.actor_id.push(e.actor_id.as_deref());
        self.actor_name.push(e.actor_name.as_deref());
        self.key_id.push(e.key_id.as_deref());
        self.key_name.push(e.key_name.as_deref());
        self.action.push(e.action.as_deref());
        self.resource.push(e.resource.as_deref());
        self.outcome.push(&e.outcome);
        self.ip.push(e.ip.as_deref());
        self.origin.push(e.origin.as_deref());
        self.user_agent.push(e.user_agent.as_deref());
        self.detail.push(e.detail.as_deref());
        self.prev_hash.push(prev_hash.to_owned());
        self.hash.push(hash.to_owned());
    }

    async fn insert(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            event_columns!(),
            ") SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], \
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
             $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], \
             $17::text[], $18::text[])"
        ))
        .bind(self.workspace_id)
        .bind(self.seq)
        .bind(self.id)
        .bind(self.time)
        .bind(self.kind)
        .bind(self.actor_id)
        .bind(self.actor_name)
        .bind(self.key_id)
        .bind(self.key_name)
        .bind(self.action)
        .bind(self.resource)
        .bind(self.outcome)
        .bind(self.ip)
        .bind(self.origin)
        .bind(self.user_agent)
        .bind(self.detail)
        .bind(self.prev_hash)
        .bind(self.hash)
        .execute(conn)
        .await
        .map_err(store_error)?;
        Ok(())
    }
}

/// The last `seq` and `hash` of a workspace's chain (None before its first event).
pub(crate) async fn head(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<ChainHead>, StoreError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE workspace_id = $1")
            .bind(workspace_id)
            .fetch_optional(db)
            .await
            .map_err(store_error)?;
    Ok(row.map(|(seq, hash)| ChainHead { seq, hash }))
}

/// A workspace's events matching `filter`, newest first. Each filter the API offers has an
/// index that ends in `seq` (migration 0013), which the planner seeks in each partition and
/// merges newest first (a unit test checks the plans on an analyzed table).
pub(crate) async fn newest_first(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Postgres>::new("");
    select_newest_first(&mut sql, workspace_id, filter);
    fetch_all(db, sql.build_query_as::<EventRow>()).await
}

/// Appends the query of [`newest_first`] to `sql` (which tests start with `EXPLAIN`).
fn select_newest_first<'a>(
    sql: &mut QueryBuilder<'a, Postgres>,
    workspace_id: &'a str,
    filter: &'a AuditFilter,
) {
    sql.push(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_events WHERE workspace_id = "
    ));
    sql.push_bind(workspace_id);
    and_where(sql, "key_id = ", filter.key_id.as_deref());
    and_where(sql, "kind = ", filter.kind.map(EventKind::as_str));
    and_where(sql, "action = ", filter.action.as_deref());
    and_where(sql, "outcome = ", filter.outcome.map(EventOutcome::as_str));
    and_where(sql, "time >= ", filter.since.map(millis));
    and_where(sql, "time < ", filter.until.map(millis));
    and_where(sql, "seq < ", filter.before_seq);
    sql.push(" ORDER BY seq DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
}

/// At most `limit` events after `after_seq`, in chain order.
pub(crate) async fn ascending(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let query = sqlx::query_as::<_, EventRow>(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"
    ))
    .bind(workspace_id)
    .bind(after_seq)
    .bind(i64::from(limit));
    fetch_all(db, query).await
}

/// The events of every kind but `$2` (`key.verified`) with `$3 < seq <= $4`, in chain order,
/// at most `$5`: the kind partitioning leaves the verifications' partitions out of the plan.
const KEPT: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM audit_events WHERE workspace_id = $1 AND kind <> $2 AND seq > $3 AND seq <= $4 \
     ORDER BY seq ASC LIMIT $5"
);

/// At most `limit` events of every kind but `key.verified` with `after_seq < seq <=
/// through_seq`, in chain order ([`KEPT`]).
pub(crate) async fn kept(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    after_seq: i64,
    through_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let query = sqlx::query_as::<_, EventRow>(KEPT)
        .bind(workspace_id)
        .bind(EventKind::KeyVerified.as_str())
        .bind(after_seq)
        .bind(through_seq)
        .bind(i64::from(limit));
    fetch_all(db, query).await
}

/// Where retention last cut a workspace's chain: the newest `audit.checkpoint` event's
/// checkpoint. One whose detail does not parse (only tampering makes one) reads as none; the
/// chain check reports that event.
pub(crate) async fn checkpoint(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<Checkpoint>, StoreError> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT detail FROM audit_events WHERE workspace_id = $1 AND kind = $2 \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(workspace_id)
    .bind(EventKind::AuditCheckpoint.as_str())
    .fetch_optional(db)
    .await
    .map_err(store_error)?;
    Ok(row
        .and_then(|(detail,)| detail)
        .and_then(|detail| serde_json::from_str(&detail).ok()))
}

/// The head of a workspace's chain as an anchor signs it: its seq and hash, and the events
/// at or before it that retention never deletes (every kind but `key.verified`), counted and
/// digested in seq order.
pub(crate) async fn anchor_point(
    db: &sqlx::PgPool,
    workspace_id: &str,
) -> Result<Option<AnchorPoint>, StoreError> {
    let Some(ChainHead { seq, hash }) = head(db, workspace_id).await? else {
        return Ok(None);
    };
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT hash FROM audit_events WHERE workspace_id = $1 AND kind <> $2 AND seq <= $3 \
         ORDER BY seq",
    )
    .bind(workspace_id)
    .bind(EventKind::KeyVerified.as_str())
    .bind(seq)
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

/// Deletes `kind` events older than `before_ms` and returns how many, with the new checkpoint
/// at the newest event (of any kind) older than the cut, which the caller appends to the chain
/// as an `audit.checkpoint` event in the same transaction. `None` when the cut has not moved.
/// Holds the workspace's head lock from the start, so retention on two nodes at once runs one
/// after the other.
///
/// The chain stays verifiable: nothing after the checkpoint is deleted, so the chain resumes
/// from the checkpoint's hash; at or before it the kept events still hash as stored, and
/// `retained` says how many must be there.
pub(crate) async fn prune(
    conn: &mut PgConnection,
    workspace_id: &str,
    kind: EventKind,
    before_ms: i64,
) -> Result<Option<(u64, Checkpoint)>, StoreError> {
    // Weeks that may be dropped whole, and if any, the lock that lets them go (taken before
    // the head's, see `partitions.rs`).
    let weeks = if kind == EventKind::KeyVerified {
        partitions::weeks_before(&mut *conn, before_ms).await?
    } else {
        Vec::new()
    };
    if !weeks.is_empty() {
        partitions::lock_for_drop(&mut *conn).await?;
    }
    lock_head(&mut *conn, workspace_id).await?;
    // The cut: the newest event (of any kind) older than `before`. Events are appended in
    // about time order, so an event after the cut may be older than `before` too; it stays
    // until the next run. Its hash is read before anything is deleted, because it may be one
    // of the deleted events.
    // By `audit_events_cut` (`time + 0`, see migration 0013); `time < $2` as well, so the weeks
    // after the cut are not read.
    let cut: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE workspace_id = $1 AND time < $2 \
         AND time + 0 < $2 ORDER BY time + 0 DESC, seq DESC LIMIT 1",
    )
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
    // An event before the cut may be newer than `before` (a verification is stamped before
    // its batch commits): it stays.
    let dropped = partitions::drop_covered(&mut *conn, workspace_id, cut_seq, &weeks).await?;
    let deleted = sqlx::query(
        "DELETE FROM audit_events WHERE workspace_id = $1 AND kind = $2 AND seq <= $3 \
         AND time < $4",
    )
    .bind(workspace_id)
    .bind(kind.as_str())
    .bind(cut_seq)
    .bind(before_ms)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?
    .rows_affected()
        + dropped;
    let (retained,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE workspace_id = $1 AND seq <= $2")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDatabase;
    use crate::PostgresStore;
    use chrono::{DateTime, Utc};
    use keyward_core::{Store, VerifyCode};

    /// Each filter the API and the dashboard offer, with the columns every index scan of its
    /// plan must seek (the index's leading columns after the workspace).
    fn filters(now: DateTime<Utc>) -> Vec<(AuditFilter, &'static [&'static str])> {
        let some = |s: &str| Some(s.to_owned());
        let day = chrono::Duration::days(1);
        let revoked = Some(EventOutcome::Verify(VerifyCode::Revoked));
        vec![
            (
                AuditFilter {
                    key_id: some("key_7"),
                    ..AuditFilter::default()
                },
                &["key_id"],
            ),
            (
                AuditFilter {
                    key_id: some("key_7"),
                    action: some("invoices.7"),
                    ..AuditFilter::default()
                },
                &["key_id", "action"],
            ),
            (
                AuditFilter {
                    action: some("invoices.7"),
                    since: Some(now - day),
                    until: Some(now),
                    ..AuditFilter::default()
                },
                &["action"],
            ),
            (
                AuditFilter {
                    outcome: revoked,
                    ..AuditFilter::default()
                },
                &["outcome"],
            ),
            (
                AuditFilter {
                    outcome: revoked,
                    since: Some(now - day),
                    until: Some(now),
                    before_seq: Some(190_000),
                    ..AuditFilter::default()
                },
                &["outcome"],
            ),
            (
                AuditFilter {
                    kind: Some(EventKind::KeyRevoked),
                    ..AuditFilter::default()
                },
                &["kind"],
            ),
            // Time alone: the primary key newest first, the weeks outside the range not read.
            (
                AuditFilter {
                    since: Some(now - day),
                    until: Some(now),
                    ..AuditFilter::default()
                },
                &["workspace_id"],
            ),
        ]
    }

    /// On a table the planner has statistics for (200,000 events over partitions, then
    /// `ANALYZE`), every filter seeks its index in each partition and merges them newest first:
    /// no sequential scan, no sort of every match.
    #[tokio::test]
    async fn filtered_queries_seek_their_index() {
        let Ok(server) = std::env::var("KEYWARD_TEST_POSTGRES_URL") else {
            eprintln!("skipped: KEYWARD_TEST_POSTGRES_URL is not set");
            return;
        };
        let db = ScratchDatabase::create(&server).await.unwrap();
        // Filling the table takes longer than a call may.
        let patient = std::time::Duration::from_secs(300);
        let timeouts = crate::Timeouts {
            statement: patient,
            call: patient,
            ..crate::Timeouts::default()
        };
        let store = PostgresStore::connect_with(db.url(), timeouts).unwrap();
        store.migrate().await.unwrap();
        let now = Utc::now();
        // Four days of events, one every two seconds: a hundred keys, twenty actions, one
        // revocation in a hundred and one refusal in fifty.
        sqlx::query(
            "INSERT INTO audit_events (workspace_id, seq, id, time, kind, key_id, action, \
             outcome, prev_hash, hash) \
             SELECT 'ws_a', i, 'ev_' || i, $1 - (200000 - i) * 2000, \
             CASE WHEN i % 100 = 0 THEN 'key.revoked' ELSE 'key.verified' END, \
             'key_' || (i % 100), 'invoices.' || (i % 20), \
             CASE WHEN i % 50 = 25 THEN 'REVOKED' ELSE 'VALID' END, '', '' \
             FROM generate_series(1, 200000) AS i",
        )
        .bind(now.timestamp_millis())
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE audit_events")
            .execute(&store.pool)
            .await
            .unwrap();
        for (filter, columns) in filters(now) {
            let filter = AuditFilter {
                limit: 50,
                ..filter
            };
            let mut sql = QueryBuilder::<Postgres>::new("EXPLAIN ");
            select_newest_first(&mut sql, "ws_a", &filter);
            let plan: Vec<(String,)> = sql.build_query_as().fetch_all(&store.pool).await.unwrap();
            let plan: Vec<&str> = plan.iter().map(|(line,)| line.as_str()).collect();
            let text = plan.join("\n");
            assert!(!text.contains("Seq Scan"), "{filter:?} scans:\n{text}");
            // A Sort node (a Merge Append's "Sort Key" is the merge of ordered index scans).
            let node = |l: &&str| {
                l.trim_start()
                    .trim_start_matches("->")
                    .trim_start()
                    .to_owned()
            };
            assert!(
                !plan
                    .iter()
                    .any(|l| node(l).starts_with("Sort  ") || l.contains("Incremental Sort")),
                "{filter:?} sorts:\n{text}"
            );
            let scans = plan.iter().filter(|l| l.contains("Index Scan")).count();
            let seeks: Vec<&&str> = plan.iter().filter(|l| l.contains("Index Cond")).collect();
            assert!(scans > 0 && seeks.len() == scans, "{filter:?}:\n{text}");
            for column in columns {
                assert!(
                    seeks.iter().all(|l| l.contains(&format!("({column} = "))),
                    "{filter:?} does not seek {column}:\n{text}"
                );
            }
            // And the query runs.
            newest_first(&store.pool, "ws_a", &filter).await.unwrap();
        }
        // The kept events, as `audit verify --anchor` reads them: no verification partition.
        let explain = format!(
            "EXPLAIN {}",
            KEPT.replace("$1", "'ws_a'")
                .replace("$2", "'key.verified'")
                .replace("$3", "0")
                .replace("$4", "200000")
                .replace("$5", "10000")
        );
        let plan: Vec<(String,)> = sqlx::query_as(&explain)
            .fetch_all(&store.pool)
            .await
            .unwrap();
        let text: Vec<&str> = plan.iter().map(|(line,)| line.as_str()).collect();
        let text = text.join("\n");
        assert!(text.contains("audit_events_kept"), "{text}");
        assert!(!text.contains("audit_events_verified"), "{text}");
        assert_eq!(
            kept(&store.pool, "ws_a", 0, 200_000, 10_000)
                .await
                .unwrap()
                .len(),
            2000
        );
        store.close().await;
        drop(db);
    }
}
