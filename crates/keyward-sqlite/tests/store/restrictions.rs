//! Credits as SQLite stores them: a key whose stored balance cannot be read (a refill anchor
//! missing from its row) fails its own spends only. The engine-neutral behaviour of
//! restrictions and credits is `keyward-store-tests`' restrictions chapter.

use anyhow::Result;
use keyward_core::{CreditOutcome, Store, StoreError};
use keyward_sqlite::SqliteStore;
use keyward_store_tests::restrictions::{
    event, key, remaining, spend_concurrently, with_credits, workspace,
};
use sqlx::Connection;
use std::sync::Arc;

/// A key whose stored credits cannot be read (no refill anchor) fails its own spends only:
/// the spends of other keys committed in the same batches all go through.
#[tokio::test]
async fn an_unreadable_balance_fails_only_its_own_spends() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let sqlite = SqliteStore::connect(&url).await?;
    sqlite.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let ws = workspace(store.as_ref()).await?;
    let (healthy, broken) = (key(&ws, with_credits(20)?), key(&ws, with_credits(20)?));
    for k in [&healthy, &broken] {
        store.insert_key(k, event(k)).await?;
    }
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("UPDATE keys SET credits_refilled_at = NULL WHERE id = ?")
        .bind(&broken.id)
        .execute(&mut conn)
        .await?;
    conn.close().await?;

    let (mut spent, mut corrupt) = (0, 0);
    let key_ids = [healthy.id.clone(), broken.id.clone()];
    for answer in spend_concurrently(&store, &ws.id, &key_ids, 20).await? {
        match answer {
            (id, Ok(Some(CreditOutcome::Spent { .. }))) if id == healthy.id => spent += 1,
            (id, Err(StoreError::Corrupt(_))) if id == broken.id => corrupt += 1,
            (id, other) => anyhow::bail!("{id}: unexpected {other:?}"),
        }
    }
    assert_eq!((spent, corrupt), (20, 20));
    assert_eq!(
        remaining(store.as_ref(), &ws.id, &healthy.id).await?,
        Some(0)
    );
    Ok(())
}
