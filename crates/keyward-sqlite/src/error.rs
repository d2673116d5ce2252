//! How sqlx errors become [`StoreError`]s. Messages come from sqlx's `Display`, which names
//! columns and constraints but never bound values, so no secret or customer data reaches a log.

use keyward_core::StoreError;

/// The unique index that gives a live key its name (see `migrations/0001_init.sql`).
const LIVE_NAME_INDEX: &str = "keys_live_name";
/// How SQLite names that index's columns in a violation message.
const LIVE_NAME_COLUMNS: &str = "keys.workspace_id, keys.name";

/// Maps a sqlx error from any store operation.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() && names_live_name(db.message()) => {
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

/// Whether a unique-violation message is about the live-name index rather than, say, `hash`.
/// SQLite reports a column index as `UNIQUE constraint failed: keys.workspace_id, keys.name`
/// and an expression index as `UNIQUE constraint failed: index 'keys_live_name'`.
fn names_live_name(message: &str) -> bool {
    let failed = message.rsplit(": ").next().unwrap_or(message);
    failed == LIVE_NAME_COLUMNS
        || failed
            .trim_matches(|c| c == '\'')
            .ends_with(LIVE_NAME_INDEX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_name_index_means_name_taken() {
        assert!(names_live_name(
            "UNIQUE constraint failed: keys.workspace_id, keys.name"
        ));
        assert!(names_live_name(
            "UNIQUE constraint failed: index 'keys_live_name'"
        ));
        assert!(!names_live_name("UNIQUE constraint failed: keys.hash"));
        assert!(!names_live_name("UNIQUE constraint failed: keys.id"));
        assert!(!names_live_name(
            "UNIQUE constraint failed: root_keys.workspace_id, root_keys.name"
        ));
    }
}
