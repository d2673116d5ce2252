//! Retention checkpoints written before they were chained (an `audit_checkpoints` row) are
//! adopted into the chain once, by the start that applies migration 0007; a table of that
//! name written afterwards is not a way to put a checkpoint in the chain.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration};
use keyward_core::{Checkpoint, EventKind, NewEvent, Store};
use keyward_sqlite::SqliteStore;
use sqlx::{Connection, SqliteConnection};

use crate::story::verify_chain;
use crate::upgrade::{migrations_through, write_old_chain};

const WS: &str = "ws_pruned";

async fn table_exists(url: &str, table: &str) -> Result<bool> {
    let mut conn = SqliteConnection::connect(url).await?;
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_one(&mut conn)
            .await?;
    conn.close().await?;
    Ok(n > 0)
}

async fn checkpoint_events(store: &SqliteStore) -> Result<usize> {
    let filter = keyward_core::AuditFilter {
        kind: Some(EventKind::AuditCheckpoint),
        limit: 100,
        ..Default::default()
    };
    Ok(store.events(WS, &filter).await?.len())
}

#[tokio::test]
async fn an_old_checkpoint_is_adopted_into_the_chain_once_and_only_by_the_upgrade() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("old.db");
    let url = format!("sqlite:{}", db.display());
    let t0 = DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")?;
    let at = |n: i64| t0 + Duration::milliseconds(n);

    // A chain an older keyward wrote and then pruned: seq 3 and 4 (verifications) deleted,
    // the cut at seq 4, two events kept at or before it.
    let mut conn = SqliteConnection::connect(&format!("{url}?mode=rwc")).await?;
    migrations_through(5, &dir.path().join("migrations"))
        .await?
        .run(&mut conn)
        .await?;
    let verified = |n| NewEvent::new(WS, at(n), EventKind::KeyVerified);
    let chain = write_old_chain(
        &mut conn,
        vec![
            NewEvent::new(WS, at(0), EventKind::WorkspaceCreated),
            NewEvent::new(WS, at(1), EventKind::KeyCreated),
            verified(2),
            verified(3),
            NewEvent::new(WS, at(4), EventKind::KeyUpdated),
            verified(5),
        ],
    )
    .await?;
    sqlx::query("DELETE FROM audit_events WHERE workspace_id = ? AND seq IN (3, 4)")
        .bind(WS)
        .execute(&mut conn)
        .await?;
    let old = Checkpoint {
        seq: 4,
        hash: chain[3].hash.clone(),
        retained: 2,
    };
    sqlx::query(
        "INSERT INTO audit_checkpoints (workspace_id, seq, hash, retained) VALUES (?, ?, ?, ?)",
    )
    .bind(WS)
    .bind(old.seq)
    .bind(&old.hash)
    .bind(2_i64)
    .execute(&mut conn)
    .await?;
    conn.close().await?;

    let store = SqliteStore::connect(&url).await?;
    store.migrate().await?;
    assert_eq!(store.checkpoint(WS).await?, Some(old.clone()));
    assert_eq!(checkpoint_events(&store).await?, 1);
    let report = verify_chain(&store, WS).await?;
    assert!(report.valid, "{report:?}");
    assert!(!table_exists(&url, "audit_checkpoints_unchained").await?);
    drop(store);

    // Later starts adopt nothing, not even a table of the old name written since.
    let mut conn = SqliteConnection::connect(&url).await?;
    sqlx::query(
        "CREATE TABLE audit_checkpoints_unchained (workspace_id TEXT NOT NULL, seq INTEGER NOT \
         NULL, hash TEXT NOT NULL, retained INTEGER NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("INSERT INTO audit_checkpoints_unchained VALUES (?, 6, ?, 3)")
        .bind(WS)
        .bind(&chain[5].hash)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let store = SqliteStore::connect(&url).await?;
    store.migrate().await?;
    assert_eq!(store.checkpoint(WS).await?, Some(old));
    assert_eq!(checkpoint_events(&store).await?, 1);
    assert!(verify_chain(&store, WS).await?.valid);
    Ok(())
}
