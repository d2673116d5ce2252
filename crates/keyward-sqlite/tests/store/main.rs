//! keyward-sqlite's integration tests, in one binary: the conformance story every `Store`
//! must tell (`story.rs`), all-or-nothing audit batches (`batches.rs`), restrictions and limits
//! (`restrictions.rs`), rotation sharing credits (`rotation.rs`), the audit journal on real files (`journal.rs`), group-committed appends in memory
//! (`grouped.rs`), and upgrading a
//! database written by an older schema (`upgrade.rs`).

mod batches;
mod checkpoints;
#[cfg(unix)]
mod file_modes;
mod grouped;
mod journal;
mod restrictions;
mod rotation;
mod story;
mod upgrade;

use anyhow::Result;
use chrono::{DateTime, Utc};
use keyward_core::ids::{self, new_id};
use keyward_core::{EventKind, NewEvent, Store, Workspace};
use keyward_sqlite::SqliteStore;
use std::sync::Arc;

/// A migrated store in memory.
async fn memory_store() -> Result<Arc<dyn Store>> {
    let store = SqliteStore::connect("sqlite::memory:").await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

/// Creates a workspace at `at`, with its bootstrap root key and one `workspace.created` event.
async fn lone_workspace(
    store: &dyn Store,
    name: &str,
    prefix: &str,
    at: DateTime<Utc>,
) -> Result<Workspace> {
    let workspace = Workspace {
        id: new_id(ids::WORKSPACE),
        name: name.into(),
        prefix: prefix.into(),
        created_at: at,
    };
    let root = story::new_root_key(&workspace, "bootstrap", story::permissions(&["*"])?, at);
    let created = NewEvent::new(&workspace.id, at, EventKind::WorkspaceCreated);
    store
        .create_workspace(&workspace, &root, vec![created])
        .await?;
    Ok(workspace)
}
