//! Wire requests into the core's domain types, once, at the edge: every field parsed with
//! the core's field parsers (`keyward_app::fields`), in the order the fields were always
//! checked, so the first invalid field is the one a `400` names.

use crate::error::ApiResult;
use chrono::{DateTime, Utc};
use keyward_api::{
    CreateKeyRequest, CreateRootKeyRequest, CreditsSpec, ImportKey, RateLimitSpec,
    UpdateKeyRequest, UpdateWorkspaceSettings, VerifyRequest,
};
use keyward_app::fields::{self, Lines};
use keyward_app::{
    AppError, ImportDraft, ImportSecret, KeyDraft, KeyPatch, RootKeyDraft, SettingsPatch,
    VerifyInput, MAX_START_CHARS,
};
use keyward_core::{KeyName, PermissionQuery, Restrictions};

fn name(raw: &str) -> Result<KeyName, AppError> {
    KeyName::parse(raw).map_err(|e| AppError::Invalid(e.to_string()))
}

fn credits(spec: &CreditsSpec, now: DateTime<Utc>) -> Result<keyward_core::Credits, AppError> {
    let refill = spec.refill.map(|r| (r.amount, r.interval_seconds));
    fields::credits(spec.remaining, refill, now)
}

fn rate_limit(spec: &RateLimitSpec) -> Result<keyward_core::RateLimit, AppError> {
    fields::rate_limit(spec.limit, spec.window_seconds)
}

fn description(raw: Option<String>) -> Result<Option<String>, AppError> {
    fields::optional_text(
        "description",
        raw,
        fields::MAX_DESCRIPTION_CHARS,
        Lines::Many,
    )
}

fn owner_id(raw: Option<String>) -> Result<Option<String>, AppError> {
    fields::optional_text("owner_id", raw, fields::MAX_OWNER_ID_CHARS, Lines::One)
}

/// A create request, parsed at `now`.
pub fn key_draft(req: CreateKeyRequest, now: DateTime<Utc>) -> ApiResult<KeyDraft> {
    let name = name(&req.name)?;
    let permissions = fields::permissions(&req.permissions)?;
    let expires_at = fields::expiry(req.expires_at, req.expires_in, now)?;
    let restrictions = Restrictions {
        ip_allowlist: fields::ip_allowlist(req.ip_allowlist.as_deref().unwrap_or_default())?,
        origin_allowlist: fields::origin_allowlist(
            req.origin_allowlist.as_deref().unwrap_or_default(),
        )?,
        credits: req.credits.as_ref().map(|c| credits(c, now)).transpose()?,
        rate_limit: req.rate_limit.as_ref().map(rate_limit).transpose()?,
    };
    Ok(KeyDraft {
        name,
        description: description(req.description)?,
        owner_id: owner_id(req.owner_id)?,
        permissions,
        enabled: req.enabled.unwrap_or(true),
        expires_at,
        metadata: fields::metadata(req.metadata.unwrap_or_default())?,
        restrictions,
        requested_at: now,
    })
}

/// One key of an import request, parsed at `now`: its fields as a create's, its secret as
/// plaintext or hex digest (exactly one), its display start as one line of free text.
pub fn import_draft(req: ImportKey, now: DateTime<Utc>) -> ApiResult<ImportDraft> {
    let secret = match (req.key, req.digest) {
        (Some(key), None) => ImportSecret::plaintext(key.into())?,
        (None, Some(digest)) => ImportSecret::digest_hex(digest.trim())?,
        _ => return Err(AppError::Invalid("give the key or its digest, not both".into()).into()),
    };
    let start = fields::optional_text("start", req.start, MAX_START_CHARS, Lines::One)?;
    let key = key_draft(
        CreateKeyRequest {
            name: req.name,
            description: req.description,
            owner_id: req.owner_id,
            permissions: req.permissions,
            expires_at: req.expires_at,
            enabled: req.enabled,
            metadata: req.metadata,
            ..CreateKeyRequest::default()
        },
        now,
    )?;
    Ok(ImportDraft { secret, start, key })
}

/// An update request, parsed at `now`.
pub fn key_patch(req: UpdateKeyRequest, now: DateTime<Utc>) -> ApiResult<KeyPatch> {
    Ok(KeyPatch {
        expires_at: fields::expiry_change(req.expires_at, req.expires_in, now)?,
        ip_allowlist: req
            .ip_allowlist
            .as_deref()
            .map(fields::ip_allowlist)
            .transpose()?,
        origin_allowlist: req
            .origin_allowlist
            .as_deref()
            .map(fields::origin_allowlist)
            .transpose()?,
        rate_limit: req
            .rate_limit
            .map(|spec| spec.as_ref().map(rate_limit).transpose())
            .transpose()?,
        credits: req
            .credits
            .map(|spec| spec.as_ref().map(|c| credits(c, now)).transpose())
            .transpose()?,
        name: req.name.as_deref().map(name).transpose()?,
        description: req.description.map(description).transpose()?,
        owner_id: req.owner_id.map(owner_id).transpose()?,
        permissions: req
            .permissions
            .as_deref()
            .map(fields::permissions)
            .transpose()?,
        enabled: req.enabled,
        metadata: req.metadata.map(fields::metadata).transpose()?,
        requested_at: now,
    })
}

/// A revocation reason.
pub fn revocation_reason(reason: Option<String>) -> ApiResult<Option<String>> {
    Ok(fields::optional_text(
        "reason",
        reason,
        fields::MAX_REASON_CHARS,
        Lines::One,
    )?)
}

pub fn root_key_draft(req: CreateRootKeyRequest) -> ApiResult<RootKeyDraft> {
    Ok(RootKeyDraft {
        name: name(&req.name)?,
        permissions: fields::permissions(&req.permissions)?,
    })
}

pub fn settings_patch(req: UpdateWorkspaceSettings) -> ApiResult<SettingsPatch> {
    Ok(SettingsPatch {
        verification_audit: req
            .verification_audit
            .as_ref()
            .map(|audit| SettingsPatch::verification_audit(audit.as_str()))
            .transpose()?,
        audit_rules: req
            .audit_rules
            .as_ref()
            .map(|rules| {
                SettingsPatch::audit_rules(
                    rules.iter().map(|r| (r.pattern.as_str(), r.level.as_str())),
                )
            })
            .transpose()?,
        audit_retention_days: req
            .audit_retention_days
            .map(SettingsPatch::retention_days)
            .transpose()?,
    })
}

pub fn verify_input(req: VerifyRequest) -> ApiResult<VerifyInput> {
    let VerifyRequest {
        key,
        permission,
        ip,
        origin,
        action,
        resource,
        user_agent,
        cost,
    } = req;
    let required = permission
        .as_deref()
        .map(PermissionQuery::parse)
        .transpose()
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let context = fields::RequestContext::parse(action, resource, ip, origin, user_agent)?;
    Ok(VerifyInput {
        key: key.into(),
        required,
        context,
        cost: VerifyInput::cost(cost)?,
    })
}
