//! The caller's workspace settings: which verifications the audit trail records (the default
//! level and the levels per action pattern) and how long verification events are kept.

use crate::commit::Change;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::{AuditRead, Caller, Principal, WorkspaceWrite};
use crate::service::Keyward;
use keyward_core::{AuditRules, VerificationAudit, Workspace, WorkspaceSettings};

/// Changes to the workspace settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub verification_audit: Option<VerificationAudit>,
    /// Replaces every rule (see [`SettingsPatch::audit_rules`]).
    pub audit_rules: Option<AuditRules>,
    /// 1 to `WorkspaceSettings::MAX_RETENTION_DAYS` (see [`SettingsPatch::retention_days`]).
    pub audit_retention_days: Option<u32>,
}

impl SettingsPatch {
    /// `verification_audit` from its name (`all`, `failures`, `aggregate`, `none`).
    pub fn verification_audit(name: &str) -> AppResult<VerificationAudit> {
        level("verification_audit", name)
    }

    /// Audit rules from `(pattern, level)` pairs in order: at most 32, patterns as in
    /// `keyward_core::audit_level`, none twice. A refusal names the rule's position, never its
    /// text.
    pub fn audit_rules<'a>(
        raw: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> AppResult<AuditRules> {
        let levels = raw
            .enumerate()
            .map(|(i, (pattern, name))| {
                level(&format!("audit_rules[{i}].level"), name).map(|level| (pattern, level))
            })
            .collect::<AppResult<Vec<_>>>()?;
        AuditRules::parse(levels.into_iter()).map_err(|e| AppError::Invalid(e.to_string()))
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
        if let Some(rules) = patch.audit_rules {
            settings.audit_rules = rules;
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

/// A level from its name; `field` names it in the refusal.
fn level(field: &str, name: &str) -> AppResult<VerificationAudit> {
    VerificationAudit::parse(name).ok_or_else(|| {
        AppError::Invalid(format!("{field} must be all, failures, aggregate or none"))
    })
}
