//! Rows as SQLite returns them and their conversion to domain records. Times are unix
//! milliseconds, permissions a JSON array of strings, metadata a JSON object, hashes 32-byte
//! blobs; anything else read back is reported as [`StoreError::Corrupt`].

use chrono::{DateTime, Utc};
use keyward_core::{
    AuditEvent, KeyHash, KeyRecord, NewEvent, Permission, RootKey, StoreError, Workspace,
};
use serde_json::Value;

/// A time as stored: unix milliseconds (the domain clock is already truncated to millis).
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is out of range")))
}

fn optional_time(ms: Option<i64>, what: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| time(ms, what)).transpose()
}

fn hash(bytes: &[u8], what: &str) -> Result<KeyHash, StoreError> {
    KeyHash::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// Permissions as stored: a JSON array of strings.
pub(crate) fn permissions_json(permissions: &[Permission]) -> String {
    Value::Array(
        permissions
            .iter()
            .map(|p| Value::String(p.as_str().to_owned()))
            .collect(),
    )
    .to_string()
}

fn permissions(json: &str, what: &str) -> Result<Vec<Permission>, StoreError> {
    let texts: Vec<String> = serde_json::from_str(json)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON array of strings")))?;
    texts
        .iter()
        .map(|text| {
            Permission::parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        })
        .collect()
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

impl WorkspaceRow {
    pub(crate) fn into_workspace(self) -> Result<Workspace, StoreError> {
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

impl RootKeyRow {
    pub(crate) fn into_root_key(self) -> Result<RootKey, StoreError> {
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
    credits: crate::restrictions::CreditColumns,
    rate_limit: Option<i64>,
    rate_limit_window_seconds: Option<i64>,
}

impl KeyRow {
    pub(crate) fn into_record(self) -> Result<KeyRecord, StoreError> {
        let what = |column: &str| format!("key {} {column}", self.id);
        let restrictions = keyward_core::Restrictions {
            ip_allowlist: crate::restrictions::ip_list(&self.ip_allowlist, &what("ip_allowlist"))?,
            origin_allowlist: crate::restrictions::origin_list(
                &self.origin_allowlist,
                &what("origin_allowlist"),
            )?,
            credits: self.credits.into_credits(&what("credits"))?,
            rate_limit: crate::restrictions::rate_limit(
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

impl EventRow {
    pub(crate) fn into_event(self) -> Result<AuditEvent, StoreError> {
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
