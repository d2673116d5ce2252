//! Rows as SQLite returns them and their conversion to domain records. Times are unix
//! milliseconds, permissions and allowlists JSON arrays of strings, metadata a JSON object,
//! hashes 32-byte blobs; anything else read back is reported as [`StoreError::Corrupt`],
//! whose message names the record and column but never quotes the stored value.

use crate::restrictions::{self, CreditColumns};
use chrono::{DateTime, Utc};
use keyward_core::{
    AuditEvent, KeyHash, KeyRecord, NewEvent, Permission, Restrictions, RootKey, StoreError,
    Workspace,
};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;

/// A row type that converts into its domain record, checking everything it read.
pub(crate) trait Row: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin {
    type Record;
    fn into_record(self) -> Result<Self::Record, StoreError>;
}

/// A time as stored: unix milliseconds (the domain clock is already truncated to millis).
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is out of range")))
}

pub(crate) fn optional_time(
    ms: Option<i64>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| time(ms, what)).transpose()
}

/// A count or limit as stored. Every bound in the domain (credits ≤ 2^53, windows ≤ a day, …)
/// is far below `i64::MAX`.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count or limit, which is never negative.
pub(crate) fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} is negative")))
}

fn hash(bytes: &[u8], what: &str) -> Result<KeyHash, StoreError> {
    KeyHash::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A list as stored (permissions, allowlists): a JSON array of strings.
pub(crate) fn json_list<T: ToString>(items: &[T]) -> String {
    Value::Array(items.iter().map(|t| Value::String(t.to_string())).collect()).to_string()
}

/// Reads back a [`json_list`], each entry with `parse`, whose error must not quote the entry.
pub(crate) fn parse_json_list<T, E: std::fmt::Display>(
    json: &str,
    what: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    let texts: Vec<String> = serde_json::from_str(json)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON array of strings")))?;
    texts
        .iter()
        .map(|text| parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))))
        .collect()
}

/// `Permission`'s error never quotes the text it refused.
fn permissions(json: &str, what: &str) -> Result<Vec<Permission>, StoreError> {
    parse_json_list(json, what, Permission::parse)
}

/// Metadata as stored: a JSON object.
pub(crate) fn metadata_json(metadata: &serde_json::Map<String, Value>) -> String {
    Value::Object(metadata.clone()).to_string()
}

fn metadata(json: &str, what: &str) -> Result<serde_json::Map<String, Value>, StoreError> {
    serde_json::from_str(json)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON object")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkspaceRow {
    id: String,
    name: String,
    prefix: String,
    created_at: i64,
}

impl Row for WorkspaceRow {
    type Record = Workspace;

    fn into_record(self) -> Result<Workspace, StoreError> {
        let created_at = time(
            self.created_at,
            &format!("workspace {} created_at", self.id),
        )?;
        Ok(Workspace {
            id: self.id,
            name: self.name,
            prefix: self.prefix,
            created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RootKeyRow {
    id: String,
    workspace_id: String,
    name: String,
    hash: Vec<u8>,
    start: String,
    permissions: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl Row for RootKeyRow {
    type Record = RootKey;

    fn into_record(self) -> Result<RootKey, StoreError> {
        let what = |column: &str| format!("root key {} {column}", self.id);
        Ok(RootKey {
            hash: hash(&self.hash, &what("hash"))?,
            permissions: permissions(&self.permissions, &what("permissions"))?,
            created_at: time(self.created_at, &what("created_at"))?,
            revoked_at: optional_time(self.revoked_at, &what("revoked_at"))?,
            id: self.id,
            workspace_id: self.workspace_id,
            name: self.name,
            start: self.start,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    workspace_id: String,
    name: String,
    description: Option<String>,
    owner_id: Option<String>,
    hash: Vec<u8>,
    start: String,
    permissions: String,
    enabled: bool,
    expires_at: Option<i64>,
    metadata: String,
    created_at: i64,
    updated_at: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    replaced_by: Option<String>,
    ip_allowlist: String,
    origin_allowlist: String,
    #[sqlx(flatten)]
    credits: CreditColumns,
    rate_limit: Option<i64>,
    rate_limit_window_seconds: Option<i64>,
}

impl Row for KeyRow {
    type Record = KeyRecord;

    fn into_record(self) -> Result<KeyRecord, StoreError> {
        let what = |column: &str| format!("key {} {column}", self.id);
        let restrictions = Restrictions {
            ip_allowlist: restrictions::ip_list(&self.ip_allowlist, &what("ip_allowlist"))?,
            origin_allowlist: restrictions::origin_list(
                &self.origin_allowlist,
                &what("origin_allowlist"),
            )?,
            credits: self.credits.into_credits(&what("credits"))?,
            rate_limit: restrictions::rate_limit(
                self.rate_limit,
                self.rate_limit_window_seconds,
                &what("rate_limit"),
            )?,
        };
        Ok(KeyRecord {
            restrictions,
            hash: hash(&self.hash, &what("hash"))?,
            permissions: permissions(&self.permissions, &what("permissions"))?,
            expires_at: optional_time(self.expires_at, &what("expires_at"))?,
            metadata: metadata(&self.metadata, &what("metadata"))?,
            created_at: time(self.created_at, &what("created_at"))?,
            updated_at: time(self.updated_at, &what("updated_at"))?,
            revoked_at: optional_time(self.revoked_at, &what("revoked_at"))?,
            id: self.id,
            workspace_id: self.workspace_id,
            name: self.name,
            description: self.description,
            owner_id: self.owner_id,
            start: self.start,
            enabled: self.enabled,
            revoked_reason: self.revoked_reason,
            replaced_by: self.replaced_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    workspace_id: String,
    seq: i64,
    id: String,
    time: i64,
    kind: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    key_id: Option<String>,
    key_name: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    outcome: String,
    ip: Option<String>,
    origin: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
    prev_hash: String,
    hash: String,
}

impl Row for EventRow {
    type Record = AuditEvent;

    fn into_record(self) -> Result<AuditEvent, StoreError> {
        let time = time(self.time, &format!("event {} time", self.id))?;
        Ok(AuditEvent {
            event: NewEvent {
                id: self.id,
                workspace_id: self.workspace_id,
                time,
                kind: self.kind,
                actor_id: self.actor_id,
                actor_name: self.actor_name,
                key_id: self.key_id,
                key_name: self.key_name,
                action: self.action,
                resource: self.resource,
                outcome: self.outcome,
                ip: self.ip,
                origin: self.origin,
                user_agent: self.user_agent,
                detail: self.detail,
            },
            seq: self.seq,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}
