//! SQL for workspaces and their root keys.

use crate::error::store_error;
use crate::rows::{millis, permissions_json, RootKeyRow, WorkspaceRow};
use keyward_core::{RootKey, StoreError, Workspace};
use sqlx::SqliteExecutor;

pub(crate) async fn insert(
    db: impl SqliteExecutor<'_>,
    workspace: &Workspace,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO workspaces (id, name, prefix, created_at) VALUES (?, ?, ?, ?)")
        .bind(&workspace.id)
        .bind(&workspace.name)
        .bind(&workspace.prefix)
        .bind(millis(workspace.created_at))
        .execute(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Every workspace, oldest first.
pub(crate) async fn all(db: impl SqliteExecutor<'_>) -> Result<Vec<Workspace>, StoreError> {
    sqlx::query_as::<_, WorkspaceRow>(
        "SELECT id, name, prefix, created_at FROM workspaces ORDER BY id",
    )
    .fetch_all(db)
    .await
    .map_err(store_error)?
    .into_iter()
    .map(WorkspaceRow::into_workspace)
    .collect()
}

pub(crate) async fn insert_root_key(
    db: impl SqliteExecutor<'_>,
    root_key: &RootKey,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO root_keys (id, workspace_id, name, hash, start, permissions, created_at, revoked_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&root_key.id)
    .bind(&root_key.workspace_id)
    .bind(&root_key.name)
    .bind(root_key.hash.as_bytes().as_slice())
    .bind(&root_key.start)
    .bind(permissions_json(&root_key.permissions))
    .bind(millis(root_key.created_at))
    .bind(root_key.revoked_at.map(millis))
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Replaces a root key's mutable fields (name, permissions, revocation).
pub(crate) async fn update_root_key(
    db: impl SqliteExecutor<'_>,
    root_key: &RootKey,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE root_keys SET name = ?, permissions = ?, revoked_at = ? WHERE workspace_id = ? AND id = ?",
    )
    .bind(&root_key.name)
    .bind(permissions_json(&root_key.permissions))
    .bind(root_key.revoked_at.map(millis))
    .bind(&root_key.workspace_id)
    .bind(&root_key.id)
    .execute(db)
    .await
    .map_err(store_error)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Every root key of every workspace, oldest first.
pub(crate) async fn all_root_keys(db: impl SqliteExecutor<'_>) -> Result<Vec<RootKey>, StoreError> {
    sqlx::query_as::<_, RootKeyRow>(
        "SELECT id, workspace_id, name, hash, start, permissions, created_at, revoked_at \
         FROM root_keys ORDER BY id",
    )
    .fetch_all(db)
    .await
    .map_err(store_error)?
    .into_iter()
    .map(RootKeyRow::into_root_key)
    .collect()
}
