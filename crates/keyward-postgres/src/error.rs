//! How sqlx errors become [`StoreError`]s. Messages come from sqlx's `Display`, which names
//! columns and constraints but never bound values, so no secret or customer data reaches a log.

use keyward_core::StoreError;

/// The unique index that gives a live key its name (see `migrations/0001_init.sql`).
const LIVE_NAME_INDEX: &str = "keys_live_name";

/// Maps a sqlx error from any store operation.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.constraint() == Some(LIVE_NAME_INDEX) =>
        {
            StoreError::NameTaken
        }
        // Only `workspace_id` columns reference another table: the workspace does not exist.
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(err.to_string()),
        _ => StoreError::Unavailable(err.to_string()),
    }
}
