//! Rows as every engine reads them back (the derived `FromRow` is generic over the driver's
//! row type) and their conversion to domain records (the values' stored forms are in
//! `columns.rs`); anything read back that does not convert is reported as
//! [`StoreError::Corrupt`], whose message names the record and column but never quotes the
//! stored value.

use crate::columns::to_u64;
use crate::columns::{hash, metadata, optional_time, permissions, time};
use crate::limits::{self, CreditColumns};
use keyward_core::{
    AuditEvent, AuditRules, KeyRecord, KeyUsage, NewEvent, Restrictions, RootKey, StoreError,
    VerificationAudit, Workspace, WorkspaceSettings,
};

/// A row that converts into its domain record, checking everything it read.
pub trait IntoRecord {
    type Record;
    fn into_record(self) -> Result<Self::Record, StoreError>;
}

#[derive(sqlx::FromRow)]
pub struct WorkspaceRow {
    id: String,
    name: String,
    prefix: String,
    created_at: i64,
}

impl IntoRecord for WorkspaceRow {
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
pub struct RootKeyRow {
    id: String,
    workspace_id: String,
    name: String,
    hash: Vec<u8>,
    start: String,
    permissions: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl IntoRecord for RootKeyRow {
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
pub struct KeyRow {
    id: String,
    workspace_id: String,
    name: String,
    description: Option<String>,
    owner_id: Option<String>,
    hash: Vec<u8>,
    start: String,
    imported: bool,
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

impl IntoRecord for KeyRow {
    type Record = KeyRecord;

    fn into_record(self) -> Result<KeyRecord, StoreError> {
        // Each column's error names it, and the key is named only on failure: a start that
        // reads a million keys formats no message for the ones that read back.
        let id = &self.id;
        let named = |error: StoreError| match error {
            StoreError::Corrupt(message) => StoreError::Corrupt(format!("key {id} {message}")),
            other => other,
        };
        let restrictions = Restrictions {
            ip_allowlist: limits::ip_list(&self.ip_allowlist, "ip_allowlist").map_err(named)?,
            origin_allowlist: limits::origin_list(&self.origin_allowlist, "origin_allowlist")
                .map_err(named)?,
            credits: self.credits.into_credits("credits").map_err(named)?,
            rate_limit: limits::rate_limit(
                self.rate_limit,
                self.rate_limit_window_seconds,
                "rate_limit",
            )
            .map_err(named)?,
        };
        Ok(KeyRecord {
            imported: self.imported,
            restrictions,
            hash: hash(&self.hash, "hash").map_err(named)?,
            permissions: permissions(&self.permissions, "permissions").map_err(named)?,
            expires_at: optional_time(self.expires_at, "expires_at").map_err(named)?,
            metadata: metadata(&self.metadata, "metadata").map_err(named)?,
            created_at: time(self.created_at, "created_at").map_err(named)?,
            updated_at: time(self.updated_at, "updated_at").map_err(named)?,
            revoked_at: optional_time(self.revoked_at, "revoked_at").map_err(named)?,
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
pub struct EventRow {
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

impl IntoRecord for EventRow {
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

#[derive(sqlx::FromRow)]
pub struct SettingsRow {
    workspace_id: String,
    verification_audit: String,
    audit_retention_days: i64,
    audit_rules: String,
}

impl IntoRecord for SettingsRow {
    type Record = WorkspaceSettings;

    fn into_record(self) -> Result<WorkspaceSettings, StoreError> {
        let what = |column: &str| format!("settings of {} {column}", self.workspace_id);
        let verification_audit = VerificationAudit::parse(&self.verification_audit)
            .ok_or_else(|| StoreError::Corrupt(what("verification_audit")))?;
        let audit_retention_days = u32::try_from(self.audit_retention_days)
            .map_err(|_| StoreError::Corrupt(what("audit_retention_days")))?;
        let audit_rules = AuditRules::from_json(&self.audit_rules)
            .ok_or_else(|| StoreError::Corrupt(what("audit_rules")))?;
        Ok(WorkspaceSettings {
            workspace_id: self.workspace_id,
            verification_audit,
            audit_rules,
            audit_retention_days,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct UsageRow {
    key_id: String,
    workspace_id: String,
    last_used_at: Option<i64>,
    verifications: i64,
}

impl IntoRecord for UsageRow {
    type Record = KeyUsage;

    fn into_record(self) -> Result<KeyUsage, StoreError> {
        let what = |column: &str| format!("usage of {}: {column}", self.key_id);
        Ok(KeyUsage {
            last_used_at: optional_time(self.last_used_at, &what("last_used_at"))?,
            verifications: to_u64(self.verifications, &what("verifications"))?,
            key_id: self.key_id,
            workspace_id: self.workspace_id,
        })
    }
}
