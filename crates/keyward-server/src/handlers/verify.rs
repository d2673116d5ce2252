//! `POST /v1/verify`: the hot path. Parse and checksum the key (a malformed key never reaches
//! any lookup), hash it, look it up in the in-memory index, decide, and answer once the
//! verification's audit event is durable (`Store::append_events`, group-committed by the
//! store's wrapper, see `keyward-storage`). No other storage
//! round-trip, except for keys with usage credits (an atomic spend) and, with Redis
//! configured, keys with a rate limit (one counter increment).

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::handlers::fields;
use crate::limits::Enforced;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use keyward_api::{VerifyRequest, VerifyResponse};
use keyward_core::model::rights;
use keyward_core::{
    decide, ApiKey, EventKind, KeyHash, KeyRecord, NewEvent, PermissionQuery, Presented, VerifyCode,
};

pub async fn verify(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    principal.require(rights::KEYS_VERIFY)?;
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
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let context = fields::RequestContext::parse(action, resource, ip, origin, user_agent)?;
    let key = ApiKey::parse(&key)
        .ok()
        .and_then(|key| state.index.key(&KeyHash::of(key.expose())))
        // Another workspace's key is indistinguishable from an unknown one.
        .filter(|key| key.workspace_id == principal.workspace_id());
    let now = state.clock.now();
    // Network binding is part of `decide`; the rate limit and then credits spend something,
    // so `limits::enforce` applies them only to a `VALID` decision.
    let presented = Presented {
        required: required.as_ref(),
        ip: context.ip.as_deref(),
        origin: context.origin.as_deref(),
    };
    let decided = decide(key.as_deref(), &presented, now);
    let limited = crate::limits::enforce(&state, key.as_deref(), decided, cost, now).await?;
    let valid = limited.code == VerifyCode::Valid;

    if state
        .index
        .verification_audit(principal.workspace_id())
        .records(valid)
    {
        let mut event = NewEvent::new(principal.workspace_id(), now, EventKind::KeyVerified)
            .actor(&principal.0.id, &principal.0.name);
        if let Some(key) = &key {
            event = event.subject(&key.id, &key.name);
        }
        event.outcome = limited.code.as_str().to_owned();
        context.fill(&mut event);
        // Fail closed: a verification that cannot be recorded is not answered.
        state
            .store
            .append_events(vec![event])
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    // Counted only once the verification is answered (after its event is durable).
    if let Some(key) = &key {
        state.usage.record(key, valid, now);
    }
    Ok(Json(response(key.as_deref(), limited)))
}

/// The answer: the code, and the key's details only when it exists in the caller's workspace.
fn response(key: Option<&KeyRecord>, limited: Enforced) -> VerifyResponse {
    let code = crate::views::verify_code(limited.code);
    let valid = limited.code == VerifyCode::Valid;
    match key {
        Some(key) => VerifyResponse {
            valid,
            code,
            key_id: Some(key.id.clone()),
            name: Some(key.name.clone()),
            owner_id: key.owner_id.clone(),
            permissions: Some(key.permissions.iter().map(|p| p.to_string()).collect()),
            expires_at: key.expires_at,
            metadata: Some(key.metadata.clone()),
            credits: limited.credits,
            rate_limit: limited.rate_limit,
        },
        None => VerifyResponse {
            valid,
            code,
            key_id: None,
            name: None,
            owner_id: None,
            permissions: None,
            expires_at: None,
            metadata: None,
            credits: None,
            rate_limit: None,
        },
    }
}
