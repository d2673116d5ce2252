//! `GET /v1/policy` and `PUT /v1/policy`: the workspace's rules for the keys it issues (today,
//! a maximum key lifetime). Reading needs `keys:read`; changing needs `policy:write`, a right
//! separate from `keys:write` so that a root key that creates keys cannot lift the policy
//! that binds them.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use keyward_api::Policy;
use keyward_core::audit::EventKind;
use keyward_core::model::rights;
use keyward_core::{NewEvent, WorkspacePolicy};

pub async fn show(
    State(state): State<AppState>,
    principal: RootPrincipal,
) -> ApiResult<Json<Policy>> {
    principal.require(rights::KEYS_READ)?;
    let policy = state
        .store
        .workspace_policy(principal.workspace_id())
        .await?;
    Ok(Json(view(&policy)))
}

pub async fn update(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiJson(req): ApiJson<Policy>,
) -> ApiResult<Json<Policy>> {
    principal.require(rights::POLICY_WRITE)?;
    let policy = WorkspacePolicy::new(req.max_key_lifetime_seconds)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let now = state.clock.now();
    let detail = match policy.max_key_lifetime_seconds {
        Some(s) => format!("max_key_lifetime_seconds = {s}"),
        None => "max_key_lifetime_seconds = none".to_owned(),
    };
    let event = NewEvent::new(principal.workspace_id(), now, EventKind::PolicyUpdated)
        .actor(&principal.0.id, &principal.0.name)
        .detail(detail);
    let _guard = state.writes.lock().await;
    state
        .store
        .set_workspace_policy(principal.workspace_id(), &policy, event)
        .await?;
    tracing::info!(workspace_id = %principal.workspace_id(), "policy updated");
    Ok(Json(view(&policy)))
}

fn view(policy: &WorkspacePolicy) -> Policy {
    Policy {
        max_key_lifetime_seconds: policy.max_key_lifetime_seconds,
    }
}
