//! The key lifecycle: create, list, show, update, revoke, rotate. Each change is written with
//! its audit event in one transaction, then placed in the verification index before the
//! response is sent, so a revoked key is refused as soon as the revoke call has answered.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::handlers::fields::Lines;
use crate::handlers::{fields, restrictions};
use crate::state::AppState;
use crate::views::key_view;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Duration;
use keyward_api::{
    CreateKeyRequest, CreatedKey, Key, KeyList, RevokeKeyRequest, RotateKeyRequest,
    UpdateKeyRequest,
};
use keyward_core::audit::EventKind;
use keyward_core::model::rights;
use keyward_core::{
    ids, ApiKey, KeyFilter, KeyHash, KeyName, KeyPrefix, KeyRecord, KeyStatus, NewEvent,
};
use serde::Deserialize;

pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 50;
/// The longest a rotated key may keep working.
pub const MAX_GRACE_SECONDS: u64 = 30 * 24 * 3600;

pub async fn create(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    principal.require(rights::KEYS_WRITE)?;
    let now = state.clock.now();
    let name = KeyName::parse(&req.name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let permissions = fields::permissions(&req.permissions)?;
    let expires_at = restrictions::expiry(req.expires_at, req.expires_in, now)?;
    let restrictions = restrictions::for_create(&req, now)?;
    restrictions::check_policy(
        state.store.as_ref(),
        principal.workspace_id(),
        expires_at,
        now,
    )
    .await?;
    let description = fields::optional_text(
        "description",
        req.description,
        fields::MAX_DESCRIPTION_CHARS,
        Lines::Many,
    )?;
    let owner_id = fields::optional_text(
        "owner_id",
        req.owner_id,
        fields::MAX_OWNER_ID_CHARS,
        Lines::One,
    )?;
    let metadata = fields::metadata(req.metadata.unwrap_or_default())?;

    let secret = issue_secret(&state, principal.workspace_id())?;
    let key = KeyRecord {
        id: ids::new_id(ids::KEY),
        workspace_id: principal.workspace_id().to_owned(),
        name: name.into_inner(),
        description,
        owner_id,
        hash: KeyHash::of(secret.expose()),
        start: secret.start(),
        permissions,
        enabled: req.enabled.unwrap_or(true),
        expires_at,
        metadata,
        created_at: now,
        updated_at: now,
        revoked_at: None,
        revoked_reason: None,
        replaced_by: None,
        restrictions,
    };
    let event = management_event(&principal, &key, EventKind::KeyCreated, now);
    let _guard = state.writes.lock().await;
    state.store.insert_key(&key, event).await?;
    state.index.put_key(key.clone());
    tracing::info!(key_id = %key.id, workspace_id = %key.workspace_id, "key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: secret.expose().to_owned(),
            record: key_view(&key, &state.usage, now),
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    owner_id: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<KeyList>> {
    principal.require(rights::KEYS_READ)?;
    let status = params
        .status
        .map(|s| {
            KeyStatus::parse(&s).ok_or_else(|| {
                ApiError::BadRequest(
                    "status must be one of active, disabled, expired, revoked".into(),
                )
            })
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be 1-{MAX_PAGE}")));
    }
    if let Some(cursor) = &params.cursor {
        if !ids::is_well_formed(ids::KEY, cursor) {
            return Err(ApiError::BadRequest(
                "cursor is not one this server gave out".into(),
            ));
        }
    }
    let now = state.clock.now();
    let filter = KeyFilter {
        owner_id: params.owner_id,
        status,
        now,
        before_id: params.cursor,
        limit: limit + 1,
    };
    let mut keys = state
        .store
        .list_keys(principal.workspace_id(), &filter)
        .await?;
    let next_cursor = if keys.len() > limit as usize {
        keys.truncate(limit as usize);
        keys.last().map(|k| k.id.clone())
    } else {
        None
    };
    for key in &mut keys {
        show_shared_balance(&state, key).await?;
    }
    Ok(Json(KeyList {
        keys: keys
            .iter()
            .map(|k| key_view(k, &state.usage, now))
            .collect(),
        next_cursor,
    }))
}

pub async fn show(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Key>> {
    principal.require(rights::KEYS_READ)?;
    let mut key = load(&state, &principal, &id).await?;
    show_shared_balance(&state, &mut key).await?;
    Ok(Json(key_view(&key, &state.usage, state.clock.now())))
}

/// A rotated key spends its replacement's credit balance (`Store::spend_credits`), so it
/// shows that balance, not the one it had when it was rotated.
async fn show_shared_balance(state: &AppState, key: &mut KeyRecord) -> ApiResult<()> {
    if key.replaced_by.is_none() {
        return Ok(());
    }
    let Some(latest) = state.index.latest_replacement(key) else {
        return Ok(());
    };
    if let Some(stored) = state.store.key(&key.workspace_id, &latest.id).await? {
        key.restrictions.credits = stored.restrictions.credits;
    }
    Ok(())
}

pub async fn update(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateKeyRequest>,
) -> ApiResult<Json<Key>> {
    principal.require(rights::KEYS_WRITE)?;
    let now = state.clock.now();
    let _guard = state.writes.lock().await;
    let mut key = load(&state, &principal, &id).await?;
    if key.revoked_at.is_some() {
        return Err(ApiError::Conflict(
            "a revoked key cannot be changed; create a new one".into(),
        ));
    }
    if key.replaced_by.is_some() {
        // Its grace period is fixed at rotation: extending or reviving it would leave the
        // old secret working beside its replacement for longer than the rotation said.
        return Err(ApiError::Conflict(
            "this key was rotated and only works until its grace period ends; change its replacement, or revoke it".into(),
        ));
    }
    let mut changed = Vec::new();
    let credits_set = restrictions::apply_update(&state, &mut key, &req, now, &mut changed).await?;
    if let Some(name) = req.name {
        key.name = KeyName::parse(&name)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
            .into_inner();
        changed.push("name");
    }
    if let Some(description) = req.description {
        key.description = fields::optional_text(
            "description",
            description,
            fields::MAX_DESCRIPTION_CHARS,
            Lines::Many,
        )?;
        changed.push("description");
    }
    if let Some(owner_id) = req.owner_id {
        key.owner_id =
            fields::optional_text("owner_id", owner_id, fields::MAX_OWNER_ID_CHARS, Lines::One)?;
        changed.push("owner_id");
    }
    if let Some(permissions) = req.permissions {
        key.permissions = fields::permissions(&permissions)?;
        changed.push("permissions");
    }
    if let Some(enabled) = req.enabled {
        key.enabled = enabled;
        changed.push("enabled");
    }
    if let Some(metadata) = req.metadata {
        key.metadata = fields::metadata(metadata)?;
        changed.push("metadata");
    }
    key.updated_at = now;
    let event = management_event(&principal, &key, EventKind::KeyUpdated, now).detail(format!(
        "changed: {}",
        if changed.is_empty() {
            "nothing".into()
        } else {
            changed.join(", ")
        }
    ));
    if credits_set {
        state.store.update_key_and_credits(&key, event).await?;
    } else {
        state.store.update_key(&key, event).await?;
    }
    state.index.put_key(key.clone());
    Ok(Json(key_view(&key, &state.usage, now)))
}

pub async fn revoke(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeKeyRequest>,
) -> ApiResult<Json<Key>> {
    principal.require(rights::KEYS_WRITE)?;
    let now = state.clock.now();
    let reason = fields::optional_text("reason", req.reason, fields::MAX_REASON_CHARS, Lines::One)?;
    let _guard = state.writes.lock().await;
    let mut key = load(&state, &principal, &id).await?;
    if key.revoked_at.is_some() {
        // Revoking twice changes nothing and is not an error: the caller's intent holds.
        return Ok(Json(key_view(&key, &state.usage, now)));
    }
    key.revoke(now, reason.clone());
    let mut event = management_event(&principal, &key, EventKind::KeyRevoked, now);
    event.detail = reason;
    state.store.update_key(&key, event).await?;
    state.index.put_key(key.clone());
    tracing::info!(key_id = %key.id, workspace_id = %key.workspace_id, "key revoked");
    Ok(Json(key_view(&key, &state.usage, now)))
}

pub async fn rotate(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RotateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    principal.require(rights::KEYS_WRITE)?;
    if req.grace_period_seconds > MAX_GRACE_SECONDS {
        return Err(ApiError::BadRequest(format!(
            "grace_period_seconds is limited to {MAX_GRACE_SECONDS} (30 days)"
        )));
    }
    let now = state.clock.now();
    let _guard = state.writes.lock().await;
    let mut old = load(&state, &principal, &id).await?;
    if old.revoked_at.is_some() {
        return Err(ApiError::Conflict(
            "a revoked key cannot be rotated; create a new one".into(),
        ));
    }
    if old.replaced_by.is_some() {
        return Err(ApiError::Conflict(
            "this key was already rotated; rotate its replacement".into(),
        ));
    }
    let secret = issue_secret(&state, principal.workspace_id())?;
    // A rotation issues a key, so the workspace's maximum lifetime counts from now, as for
    // create; the new key never outlives the old one's expiry either.
    let policy = state
        .store
        .workspace_policy(principal.workspace_id())
        .await?;
    let new = KeyRecord {
        id: ids::new_id(ids::KEY),
        hash: KeyHash::of(secret.expose()),
        start: secret.start(),
        created_at: now,
        updated_at: now,
        expires_at: policy.cap_expiry(old.expires_at, now),
        ..old.clone()
    };
    old.replaced_by = Some(new.id.clone());
    old.updated_at = now;
    let grace = i64::try_from(req.grace_period_seconds).unwrap_or(i64::MAX);
    let old_until = if grace == 0 {
        old.revoke(now, Some("rotated".into()));
        now
    } else {
        let end = now + Duration::seconds(grace);
        let until = old.expires_at.map_or(end, |e| e.min(end));
        old.expires_at = Some(until);
        until
    };
    let event = management_event(&principal, &old, EventKind::KeyRotated, now).detail(format!(
        "replaced by {}; the old key works until {}",
        new.id,
        keyward_core::audit::format_time(old_until)
    ));
    state.store.rotate_key(&old, &new, event).await?;
    state.index.put_key(old);
    state.index.put_key(new.clone());
    tracing::info!(key_id = %id, new_key_id = %new.id, "key rotated");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: secret.expose().to_owned(),
            record: key_view(&new, &state.usage, now),
        }),
    ))
}

/// The key `id` in the caller's workspace; `404` for a malformed id, an unknown one, or one
/// in another workspace (indistinguishable on purpose).
async fn load(state: &AppState, principal: &RootPrincipal, id: &str) -> ApiResult<KeyRecord> {
    if !ids::is_well_formed(ids::KEY, id) {
        return Err(ApiError::NotFound);
    }
    state
        .store
        .key(principal.workspace_id(), id)
        .await?
        .ok_or(ApiError::NotFound)
}

fn issue_secret(state: &AppState, workspace_id: &str) -> ApiResult<ApiKey> {
    let prefix = state
        .index
        .workspace_prefix(workspace_id)
        .ok_or_else(|| ApiError::Internal("workspace missing from index".into()))?;
    let prefix = KeyPrefix::parse(&prefix).map_err(|e| ApiError::Internal(e.to_string()))?;
    ApiKey::generate(&prefix).map_err(|e| ApiError::Internal(e.to_string()))
}

fn management_event(
    principal: &RootPrincipal,
    key: &KeyRecord,
    kind: EventKind,
    now: chrono::DateTime<chrono::Utc>,
) -> NewEvent {
    NewEvent::new(&key.workspace_id, now, kind)
        .actor(&principal.0.id, &principal.0.name)
        .subject(&key.id, &key.name)
}
