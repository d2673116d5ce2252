//! The caller's workspace settings: which verifications the audit trail records and how long
//! verification events are kept.

use crate::auth::RootPrincipal;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::requests;
use crate::views::settings_view;
use axum::extract::State;
use axum::Json;
use keyward_api::{UpdateWorkspaceSettings, WorkspaceSettings};
use keyward_app::rights::{AuditRead, WorkspaceWrite};
use keyward_app::Keyward;

#[utoipa::path(
    get, operation_id = "show_workspace_settings", path = "/workspace", tag = "workspace", security(("root_key" = [])),
    responses((status = 200, description = "The workspace's audit settings", body = WorkspaceSettings))
)]
pub async fn show(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<WorkspaceSettings>> {
    let caller = principal.authorize::<AuditRead>()?;
    Ok(Json(settings_view(&app.workspace_settings(&caller))))
}

#[utoipa::path(
    patch, operation_id = "update_workspace_settings", path = "/workspace", tag = "workspace", security(("root_key" = [])),
    request_body = UpdateWorkspaceSettings,
    responses((status = 200, description = "The settings as updated", body = WorkspaceSettings))
)]
pub async fn update(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(req): ApiJson<UpdateWorkspaceSettings>,
) -> ApiResult<Json<WorkspaceSettings>> {
    let caller = principal.authorize::<WorkspaceWrite>()?;
    let patch = requests::settings_patch(req)?;
    let settings = app.update_workspace_settings(&caller, patch).await?;
    Ok(Json(settings_view(&settings)))
}
