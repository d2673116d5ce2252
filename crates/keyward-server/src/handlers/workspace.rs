//! The caller's workspace settings: which verifications the audit trail records and how long
//! verification events are kept.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use keyward_api::{UpdateWorkspaceSettings, WorkspaceSettings};
use keyward_core::model::rights;
use keyward_core::{EventKind, NewEvent, VerificationAudit};

fn view(s: &keyward_core::WorkspaceSettings) -> WorkspaceSettings {
    WorkspaceSettings {
        workspace_id: s.workspace_id.clone(),
        verification_audit: crate::views::verification_audit(s.verification_audit),
        audit_retention_days: s.audit_retention_days,
    }
}

pub async fn show(
    State(state): State<AppState>,
    principal: RootPrincipal,
) -> ApiResult<Json<WorkspaceSettings>> {
    principal.require(rights::AUDIT_READ)?;
    Ok(Json(view(&state.index.settings(principal.workspace_id()))))
}

pub async fn update(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiJson(req): ApiJson<UpdateWorkspaceSettings>,
) -> ApiResult<Json<WorkspaceSettings>> {
    principal.require(rights::WORKSPACE_WRITE)?;
    let _guard = state.writes.lock().await;
    let mut settings = state.index.settings(principal.workspace_id());
    if let Some(audit) = req.verification_audit {
        settings.verification_audit =
            VerificationAudit::parse(audit.as_str()).ok_or_else(|| {
                ApiError::BadRequest("verification_audit must be all, failures or none".into())
            })?;
    }
    if let Some(days) = req.audit_retention_days {
        let max = keyward_core::WorkspaceSettings::MAX_RETENTION_DAYS;
        if !(1..=max).contains(&days) {
            return Err(ApiError::BadRequest(format!(
                "audit_retention_days must be 1-{max}"
            )));
        }
        settings.audit_retention_days = days;
    }
    if settings == state.index.settings(principal.workspace_id()) {
        // Nothing changes, so nothing is written or recorded.
        return Ok(Json(view(&settings)));
    }
    let now = state.clock.now();
    let event = NewEvent::new(principal.workspace_id(), now, EventKind::WorkspaceUpdated)
        .actor(&principal.0.id, &principal.0.name)
        .detail(format!(
            "verification_audit={}, audit_retention_days={}",
            settings.verification_audit.as_str(),
            settings.audit_retention_days
        ));
    state.store.put_workspace_settings(&settings, event).await?;
    state.index.put_settings(settings.clone());
    Ok(Json(view(&settings)))
}
