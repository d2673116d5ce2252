//! keyward's HTTP wire types: the JSON bodies and query strings of `/v1`, shared by the
//! server, the client and the CLI so they cannot drift. Requests refuse unknown fields, so a
//! typo is a `400`, not a silently ignored setting. The closed sets sent as strings are enums
//! ([`enums`]) that serialize exactly as those strings and keep a value they do not know.

pub mod advice;
pub mod enums;
pub mod leaks;
mod queries;
#[cfg(feature = "openapi")]
mod schemas;

pub use enums::{
    AuditKind, AuditOutcome, ChainStatus, ErrorCode, KeyStatus, ProbeStatus, VerificationAudit,
    VerifyCode,
};
pub use queries::{AuditQuery, KeyListQuery};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/keys`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// 3-100 characters, unique among the workspace's live keys, not generic ("API", "key").
    #[cfg_attr(
        feature = "openapi",
        schema(example = "Stripe Invoice Sending Integration")
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// `resource:action` permissions (`*` matches one whole segment).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = json!(["invoices:receive"])))]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Map<String, Value>>,
    /// Seconds from now until the key expires; an alternative to `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// CIDR ranges (IPv4 or IPv6) the key may be used from; empty or absent: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Vec<String>>,
    /// HTTP origins (`https://app.example.com`, `https://*.example.com`) the key may be used
    /// from; empty or absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_allowlist: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
}

/// Usage credits: each verification spends its `cost` (default 1) from `remaining`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreditsSpec {
    pub remaining: u64,
    /// Every `interval_seconds`, the balance is reset to `amount` (not added to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<RefillSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefillSpec {
    pub amount: u64,
    pub interval_seconds: u64,
}

/// At most `limit` verifications per `window_seconds` (fixed windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub limit: u64,
    pub window_seconds: u64,
}

/// A key's credits as the API shows them: the balance as of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditsView {
    pub remaining: u64,
    pub refill: Option<RefillSpec>,
    /// When the balance is next reset to `refill.amount`.
    pub next_refill_at: Option<DateTime<Utc>>,
}

/// The rate-limit state a verification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimitState {
    pub limit: u64,
    pub remaining: u64,
    /// When the current window ends.
    pub reset: DateTime<Utc>,
    /// Milliseconds from the verification until `reset`.
    pub reset_after_ms: u64,
}

/// `GET` and `PUT /v1/policy`: rules for every key the workspace issues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// When set, every new key must expire within this many seconds, 1-315360000 (ten
    /// years); `null`: no limit.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315_360_000))]
    pub max_key_lifetime_seconds: Option<u64>,
}

/// `PATCH /v1/keys/{id}`: absent fields are left as they are; `description`, `owner_id`
/// and `expires_at` set to `null` are cleared.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Map<String, Value>>,
    /// Seconds from now until the key expires; an alternative to `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// Replaces the IP allowlist (`[]` removes the restriction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Vec<String>>,
    /// Replaces the origin allowlist (`[]` removes the restriction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_allowlist: Option<Vec<String>>,
    /// Sets the balance and refill schedule (anchored now); `null` removes the credit limit.
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    pub credits: Option<Option<CreditsSpec>>,
    /// `null` removes the rate limit.
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Option<RateLimitSpec>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }

    pub fn serialize<S, T>(value: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize,
    {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
}

/// `POST /v1/keys/{id}/revoke`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/keys/{id}/rotate`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the old key keeps working; 0 (the default) refuses it at once.
    #[serde(default)]
    pub grace_period_seconds: u64,
}

/// `POST /v1/keys/import`: keys another system issued, at most
/// [`MAX_IMPORT_BATCH`] per request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportKeysRequest {
    pub keys: Vec<ImportKey>,
}

/// Most keys one import request may carry.
pub const MAX_IMPORT_BATCH: usize = 1000;

/// One key to import: its secret as `key` (plaintext, hashed on arrival and never stored) or
/// as `digest` (the SHA-256 of the plaintext, 64 hex characters), not both; the rest as for
/// `POST /v1/keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The first characters of the key, for display (as the other system showed them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Map<String, Value>>,
}

/// The answer to an import: one result per key, in the request's order. Every `imported`
/// key is durable, with its `key.imported` audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportKeysResponse {
    pub results: Vec<ImportResult>,
}

/// What became of one key of an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ImportResult {
    /// Imported now, as the key `id`.
    Imported { id: String },
    /// A key with this digest exists already (a re-run of the same import): nothing changed.
    Skipped,
    /// Not imported; `reason` says why (never the key).
    Refused { reason: String },
}

/// A key as the API shows it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Key {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: Option<String>,
    /// The prefix and first characters of the key, for recognising it.
    pub start: String,
    /// Issued by another system and imported by its digest (`POST /v1/keys/import`): it
    /// lacks keyward's prefix and checksum, so scanners cannot recognise it; rotate it to a
    /// keyward key.
    #[serde(default)]
    pub imported: bool,
    pub permissions: Vec<String>,
    /// `active`, `disabled`, `expired` or `revoked`.
    pub status: KeyStatus,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    /// On a rotated key, the key that replaced it.
    pub replaced_by: Option<String>,
    /// The last verification that answered `VALID`.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Verifications of this key, whatever they answered.
    #[serde(default)]
    pub verification_count: u64,
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    #[serde(default)]
    pub origin_allowlist: Vec<String>,
    #[serde(default)]
    pub credits: Option<CreditsView>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// Safety advice about the key, worst first (on `GET /v1/keys/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<Vec<advice::AdviceItem>>,
}

/// `201` from create and rotate: the only time the plaintext `key` is ever returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: Key,
}

/// `GET /v1/keys`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyList {
    pub keys: Vec<Key>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/verify`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub key: String,
    /// One permission (`invoices:read`) or an expression
    /// (`invoices:read AND (payroll:read OR payroll:admin)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "invoices:receive"))]
    pub permission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// What the calling service is about to do, e.g. `invoices.delete` (recorded in audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What it is about to do it to, e.g. `INV-1042` (recorded in audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Credits this verification spends from a key that has credits (default 1; 0 checks
    /// without spending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u64>,
}

/// `200` from verify. The key's details are present only when the key exists in the
/// caller's workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    pub valid: bool,
    /// `VALID`, `NOT_FOUND`, `REVOKED`, `EXPIRED`, `DISABLED`, `INSUFFICIENT_PERMISSIONS`, …
    pub code: VerifyCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Map<String, Value>>,
    /// Credits left after this verification (keys with credits, once the credit check ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<u64>,
    /// The key's rate-limit window after this verification (keys with a rate limit, once the
    /// rate-limit check ran); on `RATE_LIMITED`, `reset_after_ms` is how long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitState>,
}

/// One audit event, flat. `time` is written exactly as the hash chain's canonical encoding
/// writes it (RFC 3339, UTC, milliseconds), so an exported event can be re-hashed as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    pub workspace_id: String,
    /// Position in the workspace's chain, from 1.
    pub seq: i64,
    pub time: String,
    /// What happened: `key.created`, `key.updated`, `key.revoked`, `key.rotated`,
    /// `key.verified`, `key.leaked`, `root_key.created`, `root_key.revoked`,
    /// `workspace.created`, `workspace.updated`, `policy.updated`, `audit.checkpoint`; a kind
    /// stored by tampering reads as [`AuditKind::Other`], as stored.
    pub kind: AuditKind,
    /// The root key that acted.
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    /// The key acted on or verified, and its name at the time.
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    /// For verifications: what the calling service said it was doing, and to what.
    pub action: Option<String>,
    pub resource: Option<String>,
    /// The verify code (`VALID`, `REVOKED`, …), or `OK` for management events.
    pub outcome: AuditOutcome,
    pub ip: Option<String>,
    pub origin: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// `GET /v1/audit`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/audit/verify`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainCheck {
    pub valid: bool,
    /// Events checked.
    pub events: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where retention last cut the chain (events before it may have been pruned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_seq: Option<i64>,
    /// The seq of the signed anchor the chain was checked against (`POST /v1/audit/verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_seq: Option<i64>,
    /// Said when the anchor was signed by an older version, without `kept_digest`: then only
    /// the number of kept events at or before it binds them, not their contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_note: Option<String>,
    /// Stored keys and root keys whose state the chain does not explain (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexplained: Vec<Unexplained>,
    /// `verified`, `broken`, or `pending` (then `valid` is false until the background has
    /// verified the rest). Absent from servers that check the whole chain on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ChainStatus>,
    /// The newest event verified intact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_seq: Option<i64>,
    /// The chain's head when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<i64>,
    /// The check resumed after this seq, the signed verified prefix: `events` were checked
    /// now, those up to it before. Absent when the chain was checked from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from_seq: Option<i64>,
    /// Events after `verified_seq` up to the head, not verified yet.
    #[serde(default)]
    pub unverified_events: u64,
    /// A whole re-verification from the start, running or last finished in the background
    /// (`?full=true` starts one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_check: Option<FullChainCheck>,
}

/// A whole re-verification of the chain from its start, in the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FullChainCheck {
    pub running: bool,
    /// Events checked so far.
    pub checked: u64,
    /// Events it set out to check.
    pub total: u64,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether the chain and the stored records were intact, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
}

/// A stored key or root key whose state its events do not explain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unexplained {
    /// The key's or root key's id.
    pub id: String,
    pub reason: String,
}

/// `GET`/`PATCH /v1/workspace`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkspaceSettings {
    pub workspace_id: String,
    /// `all` (default), `failures`, `aggregate` or `none`: which verifications the audit
    /// trail records when no rule of `audit_rules` matches their action.
    pub verification_audit: VerificationAudit,
    /// Levels per action pattern, in order: the first rule whose pattern matches a
    /// verification's `action` decides its level.
    #[serde(default)]
    pub audit_rules: Vec<AuditRule>,
    /// Verification events older than this are pruned (default 90); management events stay.
    pub audit_retention_days: u32,
}

/// One audit rule: verifications whose `action` matches `pattern` are recorded at `level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditRule {
    /// `*` (every verification), or `.`-separated parts each `*` (any one part) or literal:
    /// `invoices.delete`, `*.read`, `invoices.*`.
    #[cfg_attr(feature = "openapi", schema(max_length = 128, example = "*.read"))]
    pub pattern: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = VerificationAudit::closed_schema))]
    pub level: VerificationAudit,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceSettings {
    /// A value the server does not know is refused with `400`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = VerificationAudit::closed_or_null_schema))]
    pub verification_audit: Option<VerificationAudit>,
    /// Replaces every audit rule (at most 32; `[]` removes them). A pattern may not repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub audit_rules: Option<Vec<AuditRule>>,
    /// Days verification events are kept, 1-3650.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub audit_retention_days: Option<u32>,
}

/// `POST /v1/root-keys`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRootKeyRequest {
    #[cfg_attr(feature = "openapi", schema(example = "Billing Service Key Issuer"))]
    pub name: String,
    /// Rights: `keys:read`, `keys:write`, `keys:verify`, `audit:read`, `root_keys:write`, `*`.
    #[cfg_attr(feature = "openapi", schema(example = json!(["keys:read", "keys:verify"])))]
    pub permissions: Vec<String>,
}

/// A root key as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RootKeyInfo {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub start: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `201` from `POST /v1/root-keys`: the only time the root key's plaintext is returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedRootKey {
    pub key: String,
    #[serde(flatten)]
    pub record: RootKeyInfo,
}

/// `keyward init --json`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitOutput {
    pub workspace_id: String,
    pub root_key: String,
}

/// Every error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `internal`, `unavailable`, …
    pub code: ErrorCode,
    pub message: String,
}

/// `/healthz` (`ok`) and `/readyz` (`ready`; a `503` `not_ready` error that says why otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Probe {
    pub status: ProbeStatus,
}

/// `POST /v1/audit/anchor`: the workspace's chain head, signed with Ed25519 by a key kept
/// outside the database. Keep it where the database's writers cannot reach it; `POST
/// /v1/audit/verify` proves the chain still extends it. The signature covers the other
/// fields' canonical JSON (keys sorted, no whitespace), so send an anchor back as it was
/// received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedAnchor {
    /// `keyward-audit-anchor/1`.
    pub format: String,
    pub workspace_id: String,
    /// The head when signed: the chain's last seq and hash.
    pub seq: i64,
    pub hash: String,
    /// Events at or before `seq` that retention never deletes.
    pub kept: u64,
    /// A running digest of those events' hashes (absent in anchors of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_digest: Option<String>,
    pub signed_at: String,
    /// Hex of the Ed25519 public key that signed.
    pub public_key: String,
    /// Hex of the Ed25519 signature.
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_tells_absent_from_null() {
        let absent: UpdateKeyRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.description, None);
        let cleared: UpdateKeyRequest = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(cleared.description, Some(None));
        let set: UpdateKeyRequest = serde_json::from_str(r#"{"description":"x"}"#).unwrap();
        assert_eq!(set.description, Some(Some("x".into())));
    }

    #[test]
    fn restriction_fields_parse_and_null_removes_limits() {
        let create: CreateKeyRequest = serde_json::from_str(
            r#"{"name":"a","expires_in":60,"ip_allowlist":["10.0.0.0/8"],
                "credits":{"remaining":10,"refill":{"amount":10,"interval_seconds":3600}},
                "rate_limit":{"limit":5,"window_seconds":1}}"#,
        )
        .unwrap();
        assert_eq!(
            create.credits.and_then(|c| c.refill).map(|r| r.amount),
            Some(10)
        );
        assert_eq!(create.rate_limit.map(|r| r.limit), Some(5));
        let update: UpdateKeyRequest =
            serde_json::from_str(r#"{"credits":null,"rate_limit":null}"#).unwrap();
        assert_eq!(update.credits, Some(None));
        assert_eq!(update.rate_limit, Some(None));
        assert!(serde_json::from_str::<CreateKeyRequest>(
            r#"{"name":"a","credits":{"remaining":1,"refil":{}}}"#
        )
        .is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<CreateKeyRequest>(r#"{"name":"a","nmae":"b"}"#).is_err());
        assert!(serde_json::from_str::<VerifyRequest>(r#"{"key":"a","perm":"b"}"#).is_err());
    }
}
