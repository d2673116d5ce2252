//! The weekly partitions of verification events (migration 0013): creating the coming weeks
//! ahead, and retention dropping a whole week instead of deleting its rows.
//!
//! Week `n` holds the times in `[n, n + 1) × WEEK_MS` (unix milliseconds) and is the table
//! `audit_events_verified_w<n>`. A verification of a week not created yet lands in
//! `audit_events_verified_default`; that week's table is then never created (PostgreSQL
//! refuses a partition whose rows sit in the default), and retention deletes those rows one
//! by one as before.
//!
//! Lock order: every transaction that locks a chain head first takes `audit_events_verified`
//! (`ROW EXCLUSIVE` for an append, see [`lock_for_append`]; `ACCESS EXCLUSIVE` for a
//! retention that drops a week, see [`lock_for_drop`]), so dropping a week can never
//! deadlock with an append waiting for the head retention holds.

use crate::error::store_error;
use keyward_core::StoreError;
use sqlx::{PgConnection, PgPool};

/// A week in unix milliseconds.
pub(crate) const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// How many weeks after the current one exist ahead of time.
const WEEKS_AHEAD: i64 = 4;
const PREFIX: &str = "audit_events_verified_w";

/// The week holding `time_ms`.
fn week_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(WEEK_MS)
}

/// Creates the partitions of the week of `now_ms` and the weeks after it that do not exist
/// yet. A week that cannot be created (its events already in the default partition, or
/// another node creating it at the same moment) is logged and left: its events stay where
/// they are, and the next run tries again.
pub(crate) async fn create_ahead(pool: &PgPool, now_ms: i64) -> Result<(), StoreError> {
    let current = week_of(now_ms);
    let existing = weeks(pool).await?;
    for week in current..=current + WEEKS_AHEAD {
        if existing.contains(&week) {
            continue;
        }
        let (from, to) = (week * WEEK_MS, (week + 1) * WEEK_MS);
        let created = sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {PREFIX}{} PARTITION OF audit_events_verified \
             FOR VALUES FROM ({from}) TO ({to})",
            name_suffix(week)
        ))
        .execute(pool)
        .await;
        if let Err(e) = created {
            tracing::warn!(week, error = %e, "audit partition not created");
        }
    }
    Ok(())
}

/// A week's number as it can appear in a table name (weeks before 1970 are negative).
fn name_suffix(week: i64) -> String {
    if week < 0 {
        format!("m{}", week.unsigned_abs())
    } else {
        week.to_string()
    }
}

/// The week a partition's table name stands for.
fn parse_suffix(suffix: &str) -> Option<i64> {
    match suffix.strip_prefix('m') {
        Some(negative) => negative.parse::<i64>().ok().map(|w| -w),
        None => suffix.parse().ok(),
    }
}

/// The weeks that have a partition, in order.
async fn weeks<'c>(db: impl sqlx::PgExecutor<'c>) -> Result<Vec<i64>, StoreError> {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'audit_events_verified'::regclass",
    )
    .fetch_all(db)
    .await
    .map_err(store_error)?;
    let mut weeks: Vec<i64> = names
        .iter()
        .filter_map(|(name,)| name.strip_prefix(PREFIX).and_then(parse_suffix))
        .collect();
    weeks.sort_unstable();
    Ok(weeks)
}

/// The weeks that end at or before `before_ms`: every event in them is older than the cut
/// of a retention at `before_ms`.
pub(crate) async fn weeks_before(
    conn: &mut PgConnection,
    before_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut weeks = weeks(&mut *conn).await?;
    weeks.retain(|week| (week + 1).saturating_mul(WEEK_MS) <= before_ms);
    Ok(weeks)
}

/// Taken by every append before its chain heads (see the module's lock order).
pub(crate) async fn lock_for_append(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("LOCK TABLE audit_events_verified IN ROW EXCLUSIVE MODE")
        .execute(conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Taken by a retention that may drop weeks, before its chain head (see the module's lock
/// order): appends of verifications wait until it commits.
pub(crate) async fn lock_for_drop(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("LOCK TABLE audit_events_verified IN ACCESS EXCLUSIVE MODE")
        .execute(conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Drops each of `weeks` whose events all belong to `workspace_id` and lie at or before its
/// retention cut `cut_seq` (exactly the rows retention's delete would remove), and returns
/// how many events went. A week that also holds another workspace's events stays: its rows
/// are deleted one by one, and the week goes at the retention of the last workspace in it.
/// Inside the retention's transaction, after [`lock_for_drop`].
pub(crate) async fn drop_covered(
    conn: &mut PgConnection,
    workspace_id: &str,
    cut_seq: i64,
    weeks: &[i64],
) -> Result<u64, StoreError> {
    let mut dropped = 0;
    for &week in weeks {
        let table = format!("{PREFIX}{}", name_suffix(week));
        // Two seeks down the primary key (it leads with the workspace) and one for the newest.
        let (others, newest): (bool, Option<i64>) = sqlx::query_as(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE workspace_id < $1) \
                 OR EXISTS (SELECT 1 FROM {table} WHERE workspace_id > $1), \
             (SELECT max(seq) FROM {table} WHERE workspace_id = $1)"
        ))
        .bind(workspace_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
        if others || newest.is_some_and(|newest| newest > cut_seq) {
            continue;
        }
        let (count,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
        dropped += u64::try_from(count).unwrap_or(0);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_named_and_read_back_either_side_of_the_epoch() {
        for week in [-3, -1, 0, 1, 2_940] {
            assert_eq!(parse_suffix(&name_suffix(week)), Some(week));
        }
        assert_eq!(week_of(-1), -1);
        assert_eq!(week_of(0), 0);
        assert_eq!(week_of(WEEK_MS - 1), 0);
        assert_eq!(week_of(WEEK_MS), 1);
    }
}
