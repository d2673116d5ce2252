//! `GET /v1/policy` and `PUT /v1/policy`: the workspace's rules for the keys it issues.
//! Reading needs `keys:read`; changing needs `policy:write` (checked by the core).

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::views::policy_view;
use axum::extract::State;
use axum::Json;
use keyward_api::Policy;
use keyward_app::rights::{KeysRead, PolicyWrite};
use keyward_app::Keyward;
use keyward_core::WorkspacePolicy;

#[utoipa::path(
    get, operation_id = "show_policy", path = "/policy", tag = "workspace", security(("root_key" = [])),
    responses((status = 200, description = "The workspace policy", body = Policy))
)]
pub async fn show(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<Policy>> {
    let caller = principal.authorize::<KeysRead>()?;
    Ok(Json(policy_view(&app.policy(&caller).await?)))
}

#[utoipa::path(
    put, operation_id = "set_policy", path = "/policy", tag = "workspace", security(("root_key" = [])),
    request_body = Policy,
    responses((status = 200, description = "The policy as set", body = Policy))
)]
pub async fn update(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(req): ApiJson<Policy>,
) -> ApiResult<Json<Policy>> {
    let caller = principal.authorize::<PolicyWrite>()?;
    let policy = WorkspacePolicy::new(req.max_key_lifetime_seconds)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(policy_view(&app.set_policy(&caller, policy).await?)))
}
