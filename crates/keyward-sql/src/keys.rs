//! Conditions on the `keys` table that every engine writes the same.

use keyward_core::KeyStatus;
use sqlx::{Database, QueryBuilder};

/// Appends to a query on `keys` the conditions under which
/// [`KeyRecord::status`](keyward_core::KeyRecord::status) is `status` at `now` (unix ms):
/// revocation wins over expiry, expiry over disabling. (`TRUE` and `FALSE` are SQLite's 1 and
/// 0 as well as PostgreSQL's booleans.)
pub fn push_status<'args, DB>(sql: &mut QueryBuilder<'args, DB>, status: KeyStatus, now: i64)
where
    DB: Database,
    i64: 'args + sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    let not_revoked = |sql: &mut QueryBuilder<'args, DB>| {
        sql.push(" AND (revoked_at IS NULL OR revoked_at > ")
            .push_bind(now)
            .push(")");
    };
    let not_expired = |sql: &mut QueryBuilder<'args, DB>| {
        sql.push(" AND (expires_at IS NULL OR expires_at > ")
            .push_bind(now)
            .push(")");
    };
    match status {
        KeyStatus::Revoked => {
            sql.push(" AND revoked_at IS NOT NULL AND revoked_at <= ")
                .push_bind(now);
        }
        KeyStatus::Expired => {
            not_revoked(sql);
            sql.push(" AND expires_at IS NOT NULL AND expires_at <= ")
                .push_bind(now);
        }
        KeyStatus::Disabled => {
            not_revoked(sql);
            not_expired(sql);
            sql.push(" AND enabled = FALSE");
        }
        KeyStatus::Active => {
            not_revoked(sql);
            not_expired(sql);
            sql.push(" AND enabled = TRUE");
        }
    }
}
