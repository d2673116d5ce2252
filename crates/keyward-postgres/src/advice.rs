//! SQL for the safety advice: settings, observations, the workspace's items and dismissals.
//! A list of key ids is bound as one array (`= ANY($n)`).

use crate::columns::millis;
use crate::error::store_error;
use crate::sql::{fetch_all, fetch_optional};
use keyward_core::advice::{AdviceCursor, AdviceSettings, Dismissal, KeyAdvice, KeyObservations};
use keyward_core::StoreError;
use keyward_sql::advice::{to_json, AdviceRow, AdviceSettingsRow, DismissalRow, ObservationsRow};
use sqlx::{PgConnection, PgExecutor};

pub(crate) async fn settings(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
) -> Result<Option<AdviceSettings>, StoreError> {
    let query = sqlx::query_as::<_, AdviceSettingsRow>(
        "SELECT workspace_id, settings FROM advice_settings WHERE workspace_id = $1",
    )
    .bind(workspace_id);
    fetch_optional(db, query).await
}

pub(crate) async fn set_settings(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    settings: &AdviceSettings,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO advice_settings (workspace_id, settings) VALUES ($1, $2) \
         ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings",
    )
    .bind(workspace_id)
    .bind(to_json(settings)?)
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn observations(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    key_ids: &[String],
) -> Result<Vec<KeyObservations>, StoreError> {
    let query = sqlx::query_as::<_, ObservationsRow>(
        "SELECT workspace_id, key_id, observations FROM key_observations \
         WHERE workspace_id = $1 AND key_id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(key_ids);
    fetch_all(db, query).await
}

pub(crate) async fn put_observations(
    conn: &mut PgConnection,
    observations: &[KeyObservations],
) -> Result<(), StoreError> {
    for obs in observations {
        sqlx::query(
            "INSERT INTO key_observations (workspace_id, key_id, observations) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id, key_id) DO UPDATE SET observations = excluded.observations",
        )
        .bind(&obs.workspace_id)
        .bind(&obs.key_id)
        .bind(to_json(obs)?)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

pub(crate) async fn replace(
    conn: &mut PgConnection,
    workspace_id: &str,
    key_ids: &[String],
    items: &[KeyAdvice],
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM advice_items WHERE workspace_id = $1 \
         AND key_id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(key_ids)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    for a in items.iter().filter(|a| a.workspace_id == workspace_id) {
        sqlx::query(
            "INSERT INTO advice_items (workspace_id, key_id, code, key_name, severity, \
             message, since, evidence, fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (workspace_id, key_id, code) DO UPDATE SET key_name = excluded.key_name, \
             severity = excluded.severity, message = excluded.message, since = excluded.since, \
             evidence = excluded.evidence, fingerprint = excluded.fingerprint",
        )
        .bind(&a.workspace_id)
        .bind(&a.key_id)
        .bind(a.item.code.as_str())
        .bind(&a.key_name)
        .bind(a.item.severity.rank())
        .bind(&a.item.message)
        .bind(millis(a.item.since))
        .bind(to_json(&a.item.evidence)?)
        .bind(&a.item.fingerprint)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

pub(crate) async fn page(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    after: Option<&AdviceCursor>,
    limit: u32,
) -> Result<Vec<KeyAdvice>, StoreError> {
    const COLUMNS: &str = "SELECT workspace_id, key_id, key_name, code, severity, message, since, \
         evidence, fingerprint FROM advice_items WHERE workspace_id = $1";
    let rows = match after {
        None => {
            let sql = format!("{COLUMNS} ORDER BY severity DESC, key_id, code LIMIT $2");
            let query = sqlx::query_as::<_, AdviceRow>(&sql)
                .bind(workspace_id)
                .bind(i64::from(limit));
            fetch_all(db, query).await?
        }
        Some(c) => {
            let sql = format!(
                "{COLUMNS} AND (severity < $2 OR (severity = $2 AND (key_id > $3 \
                 OR (key_id = $3 AND code > $4)))) ORDER BY severity DESC, key_id, code LIMIT $5"
            );
            let query = sqlx::query_as::<_, AdviceRow>(&sql)
                .bind(workspace_id)
                .bind(c.severity.rank())
                .bind(&c.key_id)
                .bind(c.code.as_str())
                .bind(i64::from(limit));
            fetch_all(db, query).await?
        }
    };
    Ok(rows)
}

pub(crate) async fn dismissals(
    db: impl PgExecutor<'_>,
    workspace_id: &str,
    key_ids: &[String],
) -> Result<Vec<Dismissal>, StoreError> {
    let query = sqlx::query_as::<_, DismissalRow>(
        "SELECT workspace_id, key_id, code, fingerprint, dismissed_by, dismissed_at \
         FROM advice_dismissals WHERE workspace_id = $1 AND key_id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(key_ids);
    fetch_all(db, query).await
}

pub(crate) async fn dismiss(conn: &mut PgConnection, d: &Dismissal) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO advice_dismissals (workspace_id, key_id, code, fingerprint, dismissed_by, \
         dismissed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, key_id, code) DO UPDATE \
         SET fingerprint = excluded.fingerprint, dismissed_by = excluded.dismissed_by, \
         dismissed_at = excluded.dismissed_at",
    )
    .bind(&d.workspace_id)
    .bind(&d.key_id)
    .bind(d.code.as_str())
    .bind(&d.fingerprint)
    .bind(&d.dismissed_by)
    .bind(millis(d.dismissed_at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query("DELETE FROM advice_items WHERE workspace_id = $1 AND key_id = $2 AND code = $3")
        .bind(&d.workspace_id)
        .bind(&d.key_id)
        .bind(d.code.as_str())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(())
}
