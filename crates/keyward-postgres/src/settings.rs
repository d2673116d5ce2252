//! SQL for workspace settings and key usage facts.

use crate::columns::millis;
use crate::error::store_error;
use crate::rows::{SettingsRow, UsageRow};
use crate::sql::fetch_all;
use keyward_core::{KeyUsage, StoreError, UsageIncrement, WorkspaceSettings};
use sqlx::{PgConnection, PgExecutor};
use std::collections::BTreeMap;

pub(crate) async fn all(db: impl PgExecutor<'_>) -> Result<Vec<WorkspaceSettings>, StoreError> {
    let query = sqlx::query_as::<_, SettingsRow>(
        "SELECT workspace_id, verification_audit, audit_retention_days, audit_rules \
         FROM workspace_settings",
    );
    fetch_all(db, query).await
}

pub(crate) async fn put(
    db: impl PgExecutor<'_>,
    settings: &WorkspaceSettings,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workspace_settings \
         (workspace_id, verification_audit, audit_retention_days, audit_rules) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id) DO UPDATE SET \
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

pub(crate) async fn usage(db: impl PgExecutor<'_>) -> Result<Vec<KeyUsage>, StoreError> {
    let query = sqlx::query_as::<_, UsageRow>(
        "SELECT key_id, workspace_id, last_used_at, verifications FROM key_usage",
    );
    fetch_all(db, query).await
}

/// Adds every increment in one statement (arrays unnested; see `Store::record_usage`):
/// increments of one key are summed first, since one statement may not touch a row twice, and
/// rows are written in key order, so two nodes writing overlapping keys lock them in the same
/// order. `GREATEST` ignores NULLs, so an increment without a last use keeps the stored one.
pub(crate) async fn record_usage(
    conn: &mut PgConnection,
    usage: &[UsageIncrement],
) -> Result<(), StoreError> {
    let mut summed: BTreeMap<&str, (&str, Option<i64>, i64)> = BTreeMap::new();
    for u in usage {
        let added = i64::try_from(u.verifications_added).unwrap_or(i64::MAX);
        let last_used = u.last_used_at.map(millis);
        let entry = summed
            .entry(u.key_id.as_str())
            .or_insert((u.workspace_id.as_str(), None, 0));
        entry.1 = entry.1.max(last_used);
        entry.2 = entry.2.saturating_add(added);
    }
    let key_ids: Vec<&str> = summed.keys().copied().collect();
    let workspace_ids: Vec<&str> = summed.values().map(|v| v.0).collect();
    let last_used: Vec<Option<i64>> = summed.values().map(|v| v.1).collect();
    let counts: Vec<i64> = summed.values().map(|v| v.2).collect();
    sqlx::query(
        "INSERT INTO key_usage (key_id, workspace_id, last_used_at, verifications) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[]) \
         ON CONFLICT (key_id) DO UPDATE SET \
         last_used_at = GREATEST(key_usage.last_used_at, excluded.last_used_at), \
         verifications = key_usage.verifications + excluded.verifications",
    )
    .bind(key_ids)
    .bind(workspace_ids)
    .bind(last_used)
    .bind(counts)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}
