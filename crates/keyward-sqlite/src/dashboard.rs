//! SQL for the dashboard's sessions and handover links.

use crate::error::store_error;
use crate::sql::fetch_optional;
use keyward_core::{Handover, KeyHash, Session, StoreError};
use keyward_sql::columns::millis;
use keyward_sql::dashboard::{HandoverRow, SessionRow, HANDOVER_COLUMNS, SESSION_COLUMNS};
use sqlx::SqliteExecutor;

pub(crate) async fn insert_session(
    db: impl SqliteExecutor<'_>,
    session: &Session,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO dashboard_sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    ))
    .bind(session.token_hash.as_bytes().as_slice())
    .bind(&session.workspace_id)
    .bind(&session.root_key_id)
    .bind(millis(session.created_at))
    .bind(millis(session.last_seen_at))
    .bind(millis(session.expires_at))
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn session(
    db: impl SqliteExecutor<'_>,
    token_hash: &KeyHash,
) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM dashboard_sessions WHERE token_hash = ?");
    let query = sqlx::query_as::<_, SessionRow>(&sql).bind(token_hash.as_bytes().as_slice());
    fetch_optional(db, query).await
}

pub(crate) async fn touch_session(
    db: impl SqliteExecutor<'_>,
    token_hash: &KeyHash,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE dashboard_sessions SET last_seen_at = ? WHERE token_hash = ? AND last_seen_at < ?",
    )
    .bind(at)
    .bind(token_hash.as_bytes().as_slice())
    .bind(at)
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Whether a session was deleted.
pub(crate) async fn delete_session(
    db: impl SqliteExecutor<'_>,
    token_hash: &KeyHash,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = ?")
        .bind(token_hash.as_bytes().as_slice())
        .execute(db)
        .await
        .map_err(store_error)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn insert_handover(
    db: impl SqliteExecutor<'_>,
    handover: &Handover,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO handovers ({HANDOVER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&handover.id)
    .bind(&handover.workspace_id)
    .bind(&handover.key_id)
    .bind(&handover.key_name)
    .bind(handover.secret_hash.as_bytes().as_slice())
    .bind(handover.key_version)
    .bind(&handover.nonce)
    .bind(&handover.ciphertext)
    .bind(millis(handover.created_at))
    .bind(millis(handover.expires_at))
    .execute(db)
    .await
    .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn handover(
    db: impl SqliteExecutor<'_>,
    id: &str,
) -> Result<Option<Handover>, StoreError> {
    let sql = format!("SELECT {HANDOVER_COLUMNS} FROM handovers WHERE id = ?");
    let query = sqlx::query_as::<_, HandoverRow>(&sql).bind(id);
    fetch_optional(db, query).await
}

/// Whether a handover link was deleted.
pub(crate) async fn delete_handover(
    db: impl SqliteExecutor<'_>,
    id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM handovers WHERE id = ?")
        .bind(id)
        .execute(db)
        .await
        .map_err(store_error)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes sessions and links whose absolute end is at or before `now` (unix ms).
pub(crate) async fn prune(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    now: i64,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for table in ["dashboard_sessions", "handovers"] {
        deleted += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= ?"))
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?
            .rows_affected();
    }
    Ok(deleted)
}
