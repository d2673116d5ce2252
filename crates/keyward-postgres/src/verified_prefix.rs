//! SQL for each workspace's signed verified prefix (`audit_verified_prefixes`).

use crate::error::store_error;
use crate::sql::fetch_optional;
use keyward_core::{StoreError, VerifiedPrefix};
use keyward_sql::verified_prefix::{to_json, VerifiedPrefixRow};
use sqlx::PgExecutor;

pub(crate) async fn get(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<VerifiedPrefix>, StoreError> {
    let query = sqlx::query_as::<_, VerifiedPrefixRow>(
        "SELECT workspace_id, prefix FROM audit_verified_prefixes WHERE workspace_id = $1",
    )
    .bind(workspace_id);
    fetch_optional(db, query).await
}

pub(crate) async fn put(
    db: impl PgExecutor<'_>,
    prefix: &VerifiedPrefix,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_verified_prefixes (workspace_id, prefix) VALUES ($1, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET prefix = excluded.prefix",
    )
    .bind(&prefix.workspace_id)
    .bind(to_json(prefix)?)
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn clear(db: impl PgExecutor<'_>, workspace_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM audit_verified_prefixes WHERE workspace_id = $1")
        .bind(workspace_id)
        .execute(db)
        .await
        .map_err(store_error)?;
    Ok(())
}
