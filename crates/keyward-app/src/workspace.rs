//! The caller's workspace settings: which verifications the audit trail records and how long
//! verification events are kept.

use crate::commit::Change;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::{AuditRead, Caller, Principal, WorkspaceWrite};
use crate::service::Keyward;
use keyward_core::{VerificationAudit, Workspace, WorkspaceSettings};

/// Changes to the workspace settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub verification_audit: Option<VerificationAudit>,
    /// 1 to `WorkspaceSettings::MAX_RETENTION_DAYS` (see [`SettingsPatch::retention_days`]).
    pub audit_retention_days: Option<u32>,
}

impl SettingsPatch {
    /// `verification_audit` from its name (`all`, `failures`, `none`).
    pub fn verification_audit(name: &str) -> AppResult<VerificationAudit> {
        VerificationAudit::parse(name).ok_or_else(|| {
            AppError::Invalid("verification_audit must be all, failures or none".into())
        })
    }

    /// A retention in days, within bounds.
    pub fn retention_days(days: u32) -> AppResult<u32> {
        let max = WorkspaceSettings::MAX_RETENTION_DAYS;
        if !(1..=max).contains(&days) {
            return Err(AppError::Invalid(format!(
                "audit_retention_days must be 1-{max}"
            )));
        }
        Ok(days)
    }
}

impl Keyward {
    /// The principal's own workspace (its name and key prefix), which any signed-in root
    /// key may read: the dashboard shows it so a person can tell whose server this is.
    pub async fn own_workspace(&self, principal: &Principal) -> AppResult<Workspace> {
        self.store
            .workspaces()
            .await?
            .into_iter()
            .find(|w| w.id == principal.workspace_id())
            .ok_or_else(|| AppError::Internal("the principal's workspace is missing".into()))
    }

    pub fn workspace_settings(&self, caller: &Caller<'_, AuditRead>) -> WorkspaceSettings {
        self.index.settings(caller.workspace_id())
    }

    /// Applies `patch`; a patch that changes nothing writes and records nothing.
    pub async fn update_workspace_settings(
        &self,
        caller: &Caller<'_, WorkspaceWrite>,
        patch: SettingsPatch,
    ) -> AppResult<WorkspaceSettings> {
        let writer = self.writer().await;
        let before = self.index.settings(caller.workspace_id());
        let mut settings = before.clone();
        if let Some(audit) = patch.verification_audit {
            settings.verification_audit = audit;
        }
        if let Some(days) = patch.audit_retention_days {
            settings.audit_retention_days = days;
        }
        if settings == before {
            return Ok(settings);
        }
        let now = self.clock.now();
        let event = events::workspace_updated(caller.principal(), &settings, now);
        writer.commit(Change::Settings(&settings), event).await?;
        Ok(settings)
    }
}
