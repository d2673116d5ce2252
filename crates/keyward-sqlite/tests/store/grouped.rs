//! `keyward_storage::Grouped` on an in-memory database, as `keyward serve` opens one: appends
//! waiting together are committed together, and the store tells the whole story.

use anyhow::Result;
use chrono::{DateTime, Utc};
use keyward_core::{EventKind, NewEvent, Store};
use keyward_sqlite::SqliteStore;
use keyward_storage::Grouped;
use std::sync::Arc;

use crate::lone_workspace;
use crate::story::{still_there, store_story, verify_chain};

async fn grouped_memory_store() -> Result<Arc<Grouped<SqliteStore>>> {
    let store = SqliteStore::connect("sqlite::memory:").await?;
    store.migrate().await?;
    Ok(Arc::new(Grouped::new(store)))
}

#[tokio::test]
async fn a_grouped_in_memory_store_tells_the_story() -> Result<()> {
    let store = grouped_memory_store().await?;
    let written = store_story(store.clone()).await?;
    still_there(store, &written).await
}

/// Concurrent appends each answer once their event is in the chain, and the chain holds every
/// one exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_grouped_appends_all_land_in_one_chain() -> Result<()> {
    let store = grouped_memory_store().await?;
    let t0 = DateTime::<Utc>::from_timestamp_millis(1_767_225_600_000).unwrap_or_default();
    let ws = lone_workspace(store.as_ref(), "Grouped", "grp", t0).await?;
    let appends: Vec<_> = (0..200)
        .map(|n| {
            let store = store.clone();
            let mut event = NewEvent::new(&ws.id, t0, EventKind::KeyVerified);
            event.outcome = "VALID".into();
            event.detail = Some(format!("append {n}"));
            tokio::spawn(async move { store.append_events(vec![event]).await })
        })
        .collect();
    for append in appends {
        append.await??;
    }
    let report = verify_chain(store.as_ref(), &ws.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 201, "the workspace event and every append");
    Ok(())
}
