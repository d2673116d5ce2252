//! A database file is in WAL mode, and stays so: WAL is a property of the file, so after the
//! store is closed and opened again (migrating again is a no-op) a plain connection sees it.

use anyhow::{Context, Result};
use keyward_core::Store;
use keyward_sqlite::SqliteStore;
use keyward_store_tests::fixtures::{lone_workspace, start};
use sqlx::Connection;

#[tokio::test]
async fn a_database_file_stays_in_wal_mode_across_a_reopen() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await?;
    store.migrate().await?;
    lone_workspace(&store, "Wal", "wal", start()?).await?;
    store.close().await;
    drop(store);

    let reopened = SqliteStore::connect(&format!("sqlite:{}", path.display())).await?;
    reopened
        .migrate()
        .await
        .context("migrating again is a no-op")?;
    assert_eq!(reopened.workspaces().await?.len(), 1);
    reopened.close().await;

    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await?;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(mode, "wal");
    Ok(())
}
