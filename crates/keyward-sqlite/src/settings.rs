//! SQL for workspace settings and key usage facts.

use crate::columns::millis;
use crate::error::store_error;
use crate::rows::{SettingsRow, UsageRow};
use crate::sql::fetch_all;
use keyward_core::{KeyUsage, StoreError, UsageIncrement, WorkspaceSettings};
use sqlx::{SqliteConnection, SqliteExecutor};

pub(crate) async fn all(db: impl SqliteExecutor<'_>) -> Result<Vec<WorkspaceSettings>, StoreError> {
    let query = sqlx::query_as::<_, SettingsRow>(
        "SELECT workspace_id, verification_audit, audit_retention_days, audit_rules \
         FROM workspace_settings",
    );
    fetch_all(db, query).await
}

pub(crate) async fn put(
    db: impl SqliteExecutor<'_>,
    settings: &WorkspaceSettings,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workspace_settings \
         (workspace_id, verification_audit, audit_retention_days, audit_rules) \
         VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id) DO UPDATE SET \
         verification_audit = excluded.verification_audit, \
         audit_retention_days = excluded.audit_retention_days, \
         audit_rules = excluded.audit_rules",
    )
    .bind(&settings.workspace_id)
    .bind(settings.verification_audit.as_str())
    .bind(i64::from(settings.audit_retention_days))
    .bind(settings.audit_rules.to_json())
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn usage(db: impl SqliteExecutor<'_>) -> Result<Vec<KeyUsage>, StoreError> {
    let query = sqlx::query_as::<_, UsageRow>(
        "SELECT key_id, workspace_id, last_used_at, verifications FROM key_usage",
    );
    fetch_all(db, query).await
}

/// Adds each increment to what the key has (see `Store::record_usage`). `max` of two values
/// where one is NULL is NULL in SQLite, hence the `coalesce`s.
pub(crate) async fn record_usage(
    conn: &mut SqliteConnection,
    usage: &[UsageIncrement],
) -> Result<(), StoreError> {
    for u in usage {
        sqlx::query(
            "INSERT INTO key_usage (key_id, workspace_id, last_used_at, verifications) VALUES (?, ?, ?, ?) \
             ON CONFLICT (key_id) DO UPDATE SET \
             last_used_at = max(coalesce(key_usage.last_used_at, excluded.last_used_at), \
                                coalesce(excluded.last_used_at, key_usage.last_used_at)), \
             verifications = key_usage.verifications + excluded.verifications",
        )
        .bind(&u.key_id)
        .bind(&u.workspace_id)
        .bind(u.last_used_at.map(millis))
        .bind(i64::try_from(u.verifications_added).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}
