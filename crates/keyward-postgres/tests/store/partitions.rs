//! Retention on PostgreSQL drops a week of verification events whole (a partition, migration
//! 0013) when every event in it is one the row-by-row delete would remove, and deletes row by
//! row otherwise; either way the chain verifies after. The upgrade to partitions keeps every
//! event.

use super::{create, open, unavailable};
use anyhow::{ensure, Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::{EventKind, NewEvent, Store};
use keyward_store_tests::fixtures::{lone_workspace, start, verify_chain};

/// Whether the partition of unix week `week` exists.
async fn week_exists(url: &str, week: i64) -> Result<bool> {
    let pool = sqlx::PgPool::connect(url).await?;
    let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("audit_events_verified_w{week}"))
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(exists)
}

/// Three verifications on each of `days` after `t0`.
async fn verifications(
    store: &dyn Store,
    workspace_id: &str,
    t0: DateTime<Utc>,
    days: std::ops::RangeInclusive<i64>,
) -> Result<()> {
    for day in days {
        let at = t0 + Duration::days(day);
        let events = (0..3)
            .map(|minute| {
                NewEvent::new(
                    workspace_id,
                    at + Duration::minutes(minute),
                    EventKind::KeyVerified,
                )
            })
            .collect();
        store.append_events(events).await?;
    }
    Ok(())
}

/// The fixtures' start is the first millisecond of unix week 2922 (weeks count from the
/// epoch, a Thursday).
fn week_of_start() -> Result<(DateTime<Utc>, i64)> {
    let t0 = start()?;
    let week = t0.timestamp_millis().div_euclid(7 * 24 * 3_600_000);
    Ok((t0, week))
}

#[tokio::test]
async fn retention_drops_a_week_of_one_workspace_whole_and_the_chain_verifies() -> Result<()> {
    if let Some(why) = unavailable() {
        return keyward_store_tests::skip("retention_drops_a_week", &why);
    }
    let db = create().await?;
    let store = open(&db).await?;
    let (t0, week) = week_of_start()?;
    let ws = lone_workspace(&store, "Weeks", "wk", t0).await?;
    // Retention creates the weeks ahead of its `now`; nothing is old enough to go yet.
    ensure!(
        store
            .prune_events(&ws.id, EventKind::KeyVerified, t0, t0)
            .await?
            == 0
    );
    ensure!(week_exists(db.scratch.url(), week).await?);

    verifications(&store, &ws.id, t0, 1..=13).await?;
    // Days 1-6 fill the first week, 7-13 the second; the cut takes days 1-8.
    let cut = t0 + Duration::days(9);
    let deleted = store
        .prune_events(&ws.id, EventKind::KeyVerified, cut, cut + Duration::days(1))
        .await?;
    ensure!(deleted == 8 * 3, "deleted {deleted}");
    ensure!(
        !week_exists(db.scratch.url(), week).await?,
        "first week kept"
    );
    ensure!(
        week_exists(db.scratch.url(), week + 1).await?,
        "second week gone"
    );
    let checkpoint = store.checkpoint(&ws.id).await?.context("checkpoint")?;
    ensure!(checkpoint.retained == 1, "workspace.created is kept");
    let report = verify_chain(&store, &ws.id).await?;
    ensure!(report.valid, "{report:?}");
    ensure!(report.events == 1 + 5 * 3 + 1, "{report:?}");
    store.close().await;
    Ok(())
}

/// A week that also holds another workspace's events is not dropped for the first workspace
/// (its rows are deleted), and goes whole at the retention of the last workspace in it.
#[tokio::test]
async fn a_week_shared_by_two_workspaces_goes_at_the_last_ones_retention() -> Result<()> {
    if let Some(why) = unavailable() {
        return keyward_store_tests::skip("a_week_shared_by_two_workspaces", &why);
    }
    let db = create().await?;
    let store = open(&db).await?;
    let (t0, week) = week_of_start()?;
    let a = lone_workspace(&store, "A", "wa", t0).await?;
    let b = lone_workspace(&store, "B", "wb", t0).await?;
    ensure!(
        store
            .prune_events(&a.id, EventKind::KeyVerified, t0, t0)
            .await?
            == 0
    );
    verifications(&store, &a.id, t0, 1..=8).await?;
    verifications(&store, &b.id, t0, 1..=8).await?;

    let cut = t0 + Duration::days(7);
    let now = cut + Duration::days(1);
    ensure!(
        store
            .prune_events(&a.id, EventKind::KeyVerified, cut, now)
            .await?
            == 6 * 3
    );
    ensure!(
        week_exists(db.scratch.url(), week).await?,
        "dropped while b's events were in it"
    );
    ensure!(
        store
            .prune_events(&b.id, EventKind::KeyVerified, cut, now)
            .await?
            == 6 * 3
    );
    ensure!(
        !week_exists(db.scratch.url(), week).await?,
        "kept after the last retention"
    );
    for ws in [&a, &b] {
        let report = verify_chain(&store, &ws.id).await?;
        ensure!(report.valid, "{report:?}");
        ensure!(report.events == 1 + 2 * 3 + 1, "{report:?}");
    }
    store.close().await;
    Ok(())
}

/// Migration 0013 moves the events of a database written before it into their partitions:
/// management events apart, each verification into its week's partition (weeks before 1970
/// included), none lost.
#[tokio::test]
async fn the_upgrade_moves_existing_events_into_their_partitions() -> Result<()> {
    if let Some(why) = unavailable() {
        return keyward_store_tests::skip("the_upgrade_moves_existing_events", &why);
    }
    let db = create().await?;
    let pool = sqlx::PgPool::connect(db.scratch.url()).await?;
    for before in [
        include_str!("../../migrations/0001_init.sql"),
        include_str!("../../migrations/0008_changes.sql"),
        include_str!("../../migrations/0009_ui.sql"),
        include_str!("../../migrations/0010_imported.sql"),
        include_str!("../../migrations/0011_advice.sql"),
        include_str!("../../migrations/0012_audit_rules.sql"),
    ] {
        sqlx::raw_sql(before).execute(&pool).await?;
    }
    let (t0, week) = week_of_start()?;
    let t0 = t0.timestamp_millis();
    sqlx::query(
        "INSERT INTO audit_events (workspace_id, seq, id, time, kind, outcome, prev_hash, hash) \
         VALUES ('ws', 1, 'e1', $1, 'workspace.created', 'ok', 'a', 'b'), \
         ('ws', 2, 'e2', $1 + 1000, 'key.verified', 'VALID', 'b', 'c'), \
         ('ws', 3, 'e3', -5, 'key.verified', 'VALID', 'c', 'd')",
    )
    .bind(t0)
    .execute(&pool)
    .await?;
    sqlx::raw_sql(include_str!(
        "../../migrations/0013_audit_filter_indexes.sql"
    ))
    .execute(&pool)
    .await?;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT tableoid::regclass::text, seq FROM audit_events ORDER BY seq")
            .fetch_all(&pool)
            .await?;
    let expected = vec![
        ("audit_events_kept".to_owned(), 1),
        (format!("audit_events_verified_w{week}"), 2),
        ("audit_events_verified_wm1".to_owned(), 3),
    ];
    ensure!(rows == expected, "{rows:?}");
    pool.close().await;
    Ok(())
}
