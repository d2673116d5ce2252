//! Rows as PostgreSQL returns them and their conversion to domain records (the values' stored
//! forms are in `columns.rs`); anything read back that does not convert is reported as
//! [`StoreError::Corrupt`], whose message names the record and column but never quotes the
//! stored value.

use crate::columns::{hash, metadata, optional_time, permissions, time};
use crate::restrictions::{self, CreditColumns};
use crate::sql::Row;
use keyward_core::{AuditEvent, KeyRecord, NewEvent, Restrictions, RootKey, StoreError, Workspace};

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
