//! The records keyward keeps: workspaces (the tenant boundary), root keys (administrators'
//! credentials) and keys (what integrations present). Only hashes of secrets live here.

use crate::audit_level::AuditRules;
use crate::credits::Credits;
use crate::hashing::KeyHash;
use crate::permission::Permission;
use crate::rate_limit::RateLimit;
use crate::restrictions::{IpRange, Origin};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    /// Issuer prefix of this workspace's keys, e.g. `bos` or `bos_live`.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

/// Which verifications a workspace records in its audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationAudit {
    /// Every verification (the default).
    All,
    /// Only verifications that did not answer `VALID`.
    Failures,
    /// Per-minute counts by key, action, outcome and network, written as chained events
    /// every few seconds (not durable per request: see `docs/audit.md`).
    Aggregate,
    /// None; management events are always recorded.
    None,
}

impl VerificationAudit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Failures => "failures",
            Self::Aggregate => "aggregate",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::All, Self::Failures, Self::Aggregate, Self::None]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A workspace's audit settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSettings {
    pub workspace_id: String,
    /// The level of a verification no rule of `audit_rules` matches.
    pub verification_audit: VerificationAudit,
    /// Levels per action pattern, the first match winning (`audit_level.rs`).
    pub audit_rules: AuditRules,
    /// Verification events older than this many days are pruned; management events are kept.
    pub audit_retention_days: u32,
}

impl WorkspaceSettings {
    pub const DEFAULT_RETENTION_DAYS: u32 = 90;
    pub const MAX_RETENTION_DAYS: u32 = 3650;

    pub fn defaults(workspace_id: &str) -> Self {
        Self {
            workspace_id: workspace_id.to_owned(),
            verification_audit: VerificationAudit::All,
            audit_rules: AuditRules::default(),
            audit_retention_days: Self::DEFAULT_RETENTION_DAYS,
        }
    }
}

/// How much a key has been used: kept in memory on the verify path and written to storage in
/// the background, so verification never waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_id: String,
    pub workspace_id: String,
    /// The last verification that answered `VALID`.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Verifications of this key, whatever they answered.
    pub verifications: u64,
}

/// What one node saw of a key since it last wrote its usage: several nodes write these for
/// the same key, so a store adds them up instead of overwriting one node's count with
/// another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageIncrement {
    pub key_id: String,
    pub workspace_id: String,
    /// The node's latest `VALID` verification of the key; the store keeps the later of this
    /// and what it holds, so an older one never moves `last_used_at` back.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Verifications the node counted since its last successful write, added to the total.
    pub verifications_added: u64,
}

impl KeyUsage {
    /// The whole count as one increment from zero (copying usage into an empty database).
    pub fn as_increment(&self) -> UsageIncrement {
        UsageIncrement {
            key_id: self.key_id.clone(),
            workspace_id: self.workspace_id.clone(),
            last_used_at: self.last_used_at,
            verifications_added: self.verifications,
        }
    }
}

/// A workspace administrator's credential. Kept apart from customer keys (its own table and
/// index), so no customer key can ever act as a root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKey {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub hash: KeyHash,
    pub start: String,
    /// What the root key may do: `keys:read`, `keys:write`, `keys:verify`, `audit:read`,
    /// `root_keys:write`, `workspace:write`, `policy:write`, or `*`.
    pub permissions: Vec<Permission>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Rights a root key can hold, checked by the server per endpoint.
pub mod rights {
    pub const KEYS_READ: &str = "keys:read";
    pub const KEYS_WRITE: &str = "keys:write";
    pub const KEYS_VERIFY: &str = "keys:verify";
    pub const AUDIT_READ: &str = "audit:read";
    pub const ROOT_KEYS_WRITE: &str = "root_keys:write";
    pub const WORKSPACE_WRITE: &str = "workspace:write";
    pub const POLICY_WRITE: &str = "policy:write";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Disabled,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Disabled, Self::Expired, Self::Revoked]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// A customer key as stored: everything but its plaintext.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: Option<String>,
    pub hash: KeyHash,
    /// Prefix and first body characters, for display (`bos_5Qm2`).
    pub start: String,
    /// Issued by another system and imported (`keyward import`): it has no keyward prefix
    /// or checksum and verifies by the digest of the string presented; rotating it gives a
    /// keyward key.
    pub imported: bool,
    pub permissions: Vec<Permission>,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// A JSON object the workspace attaches to the key.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    /// Set on the old key when it is rotated: the id of the key that replaced it. A replaced
    /// key no longer holds its name (the new key does), though it may still work for a grace
    /// period.
    pub replaced_by: Option<String>,
    /// Network binding, usage credits and rate limit.
    pub restrictions: Restrictions,
}

/// What limits a key's use beyond its status and permissions. Empty allowlists and `None`
/// limits restrict nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restrictions {
    pub ip_allowlist: Vec<IpRange>,
    pub origin_allowlist: Vec<Origin>,
    pub credits: Option<Credits>,
    pub rate_limit: Option<RateLimit>,
}

impl KeyRecord {
    /// The status at `now`; revocation wins over expiry, expiry over disabling.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.revoked_at.is_some_and(|at| at <= now) {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else if !self.enabled {
            KeyStatus::Disabled
        } else {
            KeyStatus::Active
        }
    }

    /// Revokes the key at `now`. The one place revocation is spelled out, shared by the revoke
    /// call, rotation without grace and leak reports.
    pub fn revoke(&mut self, now: DateTime<Utc>, reason: Option<String>) {
        self.revoked_at = Some(now);
        self.revoked_reason = reason;
        self.updated_at = now;
    }

    /// Whether the key still holds its name (for the uniqueness rule).
    pub fn holds_name(&self) -> bool {
        self.revoked_at.is_none() && self.replaced_by.is_none()
    }
}
