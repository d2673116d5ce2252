//! SQL for workspaces and their root keys.

use crate::columns::{json_list, millis};
use crate::error::store_error;
use crate::rows::{RootKeyRow, WorkspaceRow};
use crate::sql::{fetch_all, update_one};
use keyward_core::{RootKey, StoreError, Workspace};
use sqlx::PgExecutor;

pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    workspace: &Workspace,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO workspaces (id, name, prefix, created_at) VALUES ($1, $2, $3, $4)")
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
pub(crate) async fn all(db: impl PgExecutor<'_>) -> Result<Vec<Workspace>, StoreError> {
    let query = sqlx::query_as::<_, WorkspaceRow>(
        "SELECT id, name, prefix, created_at FROM workspaces ORDER BY id",
    );
    fetch_all(db, query).await
}

pub(crate) async fn insert_root_key(
    db: impl PgExecutor<'_>,
    root_key: &RootKey,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO root_keys (id, workspace_id, name, hash, start, permissions, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&root_key.id)
    .bind(&root_key.workspace_id)
    .bind(&root_key.name)
    .bind(root_key.hash.as_bytes().as_slice())
    .bind(&root_key.start)
    .bind(json_list(&root_key.permissions))
    .bind(millis(root_key.created_at))
    .bind(root_key.revoked_at.map(millis))
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Replaces a root key's mutable fields (name, permissions, revocation).
pub(crate) async fn update_root_key(
    db: impl PgExecutor<'_>,
    root_key: &RootKey,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "UPDATE root_keys SET name = $1, permissions = $2, revoked_at = $3 \
         WHERE workspace_id = $4 AND id = $5",
    )
    .bind(&root_key.name)
    .bind(json_list(&root_key.permissions))
    .bind(root_key.revoked_at.map(millis))
    .bind(&root_key.workspace_id)
    .bind(&root_key.id);
    update_one(db, query).await
}

/// Every root key of every workspace, oldest first.
pub(crate) async fn all_root_keys(db: impl PgExecutor<'_>) -> Result<Vec<RootKey>, StoreError> {
    let query = sqlx::query_as::<_, RootKeyRow>(
        "SELECT id, workspace_id, name, hash, start, permissions, created_at, revoked_at \
         FROM root_keys ORDER BY id",
    );
    fetch_all(db, query).await
}
