//! Conversions from domain records to wire types. The domain's closed sets map to the wire
//! enums by exhaustive `match`, so a variant added to the domain does not compile until the
//! wire knows it.

use chrono::{DateTime, Utc};
use keyward_api::{
    CreditsView, Key, Policy, RateLimitSpec, RateLimitState, RefillSpec, RootKeyInfo,
    VerifyResponse,
};
use keyward_app::usage::UsageTracker;
use keyward_app::{ChainCheck, CheckStatus, Verification};
use keyward_core::{
    AuditEvent, Credits, KeyRecord, RateLimitDecision, RootKey, WorkspacePolicy, WorkspaceSettings,
};

pub fn key_view(key: &KeyRecord, usage: &UsageTracker, now: DateTime<Utc>) -> Key {
    let (last_used_at, verification_count) = usage.get(&key.id);
    Key {
        last_used_at,
        verification_count,
        id: key.id.clone(),
        workspace_id: key.workspace_id.clone(),
        name: key.name.clone(),
        description: key.description.clone(),
        owner_id: key.owner_id.clone(),
        start: key.start.clone(),
        imported: key.imported,
        permissions: key.permissions.iter().map(|p| p.to_string()).collect(),
        status: key_status(key.status(now)),
        enabled: key.enabled,
        expires_at: key.expires_at,
        metadata: key.metadata.clone(),
        created_at: key.created_at,
        updated_at: key.updated_at,
        revoked_at: key.revoked_at,
        revoked_reason: key.revoked_reason.clone(),
        replaced_by: key.replaced_by.clone(),
        ip_allowlist: key
            .restrictions
            .ip_allowlist
            .iter()
            .map(ToString::to_string)
            .collect(),
        origin_allowlist: key
            .restrictions
            .origin_allowlist
            .iter()
            .map(ToString::to_string)
            .collect(),
        credits: key.restrictions.credits.map(|c| credits_view(c, now)),
        rate_limit: key.restrictions.rate_limit.map(|r| RateLimitSpec {
            limit: r.limit,
            window_seconds: r.window_seconds,
        }),
        advice: None,
    }
}

/// The balance as of `now` (refills applied), and when it next refills.
pub fn credits_view(credits: Credits, now: DateTime<Utc>) -> CreditsView {
    CreditsView {
        remaining: credits.at(now).remaining,
        refill: credits.refill.map(|r| RefillSpec {
            amount: r.amount,
            interval_seconds: r.interval_seconds,
        }),
        next_refill_at: credits.next_refill_at(now),
    }
}

pub fn root_key_view(root: &RootKey) -> RootKeyInfo {
    RootKeyInfo {
        id: root.id.clone(),
        workspace_id: root.workspace_id.clone(),
        name: root.name.clone(),
        start: root.start.clone(),
        permissions: root.permissions.iter().map(|p| p.to_string()).collect(),
        created_at: root.created_at,
        revoked_at: root.revoked_at,
    }
}

pub fn event_view(e: AuditEvent) -> keyward_api::AuditEvent {
    let time = keyward_core::audit::format_time(e.event.time);
    let ev = e.event;
    keyward_api::AuditEvent {
        id: ev.id,
        workspace_id: ev.workspace_id,
        seq: e.seq,
        time,
        kind: ev.kind.into(),
        actor_id: ev.actor_id,
        actor_name: ev.actor_name,
        key_id: ev.key_id,
        key_name: ev.key_name,
        action: ev.action,
        resource: ev.resource,
        outcome: ev.outcome.into(),
        ip: ev.ip,
        origin: ev.origin,
        user_agent: ev.user_agent,
        detail: ev.detail,
        prev_hash: e.prev_hash,
        hash: e.hash,
    }
}

/// The answer to a verification: the code, and the key's details only when it exists in the
/// caller's workspace.
pub fn verify_response(v: Verification) -> VerifyResponse {
    let code = verify_code(v.code);
    let valid = v.valid();
    match v.key.as_deref() {
        Some(key) => VerifyResponse {
            valid,
            code,
            key_id: Some(key.id.clone()),
            name: Some(key.name.clone()),
            owner_id: key.owner_id.clone(),
            permissions: Some(key.permissions.iter().map(|p| p.to_string()).collect()),
            expires_at: key.expires_at,
            metadata: Some(key.metadata.clone()),
            credits: v.credits,
            rate_limit: v.rate_limit.map(|d| rate_limit_state(d, v.at)),
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

fn rate_limit_state(d: RateLimitDecision, now: DateTime<Utc>) -> RateLimitState {
    RateLimitState {
        limit: d.limit,
        remaining: d.remaining,
        reset: d.reset,
        reset_after_ms: u64::try_from((d.reset - now).num_milliseconds()).unwrap_or(0),
    }
}

pub fn chain_check_view(c: ChainCheck) -> keyward_api::ChainCheck {
    keyward_api::ChainCheck {
        valid: c.valid,
        events: c.events,
        first_bad_seq: c.first_bad_seq,
        reason: c.reason,
        checkpoint_seq: c.checkpoint_seq,
        anchor_seq: c.anchor_seq,
        anchor_note: c.anchor_note,
        unexplained: c
            .unexplained
            .into_iter()
            .map(|m| keyward_api::Unexplained {
                id: m.id,
                reason: m.reason,
            })
            .collect(),
        status: Some(match c.status {
            CheckStatus::Verified => keyward_api::ChainStatus::Verified,
            CheckStatus::Broken => keyward_api::ChainStatus::Broken,
            CheckStatus::Pending => keyward_api::ChainStatus::Pending,
        }),
        verified_seq: c.verified_seq,
        head_seq: c.head_seq,
        resumed_from_seq: c.resumed_from_seq,
        unverified_events: c.unverified_events,
        full_check: c.full_check.map(|f| keyward_api::FullChainCheck {
            running: f.running,
            checked: f.checked,
            total: f.total,
            started_at: f.started_at,
            finished_at: f.finished_at,
            valid: f.valid,
        }),
    }
}

pub fn settings_view(s: &WorkspaceSettings) -> keyward_api::WorkspaceSettings {
    keyward_api::WorkspaceSettings {
        workspace_id: s.workspace_id.clone(),
        verification_audit: verification_audit(s.verification_audit),
        audit_rules: s
            .audit_rules
            .rules()
            .iter()
            .map(|rule| keyward_api::AuditRule {
                pattern: rule.pattern.as_str().to_owned(),
                level: verification_audit(rule.level),
            })
            .collect(),
        audit_retention_days: s.audit_retention_days,
    }
}

pub fn policy_view(policy: &WorkspacePolicy) -> Policy {
    Policy {
        max_key_lifetime_seconds: policy.max_key_lifetime_seconds,
    }
}

pub fn verify_code(code: keyward_core::VerifyCode) -> keyward_api::VerifyCode {
    use keyward_api::VerifyCode as Wire;
    use keyward_core::VerifyCode as Domain;
    match code {
        Domain::Valid => Wire::Valid,
        Domain::NotFound => Wire::NotFound,
        Domain::Revoked => Wire::Revoked,
        Domain::Expired => Wire::Expired,
        Domain::Disabled => Wire::Disabled,
        Domain::InsufficientPermissions => Wire::InsufficientPermissions,
        Domain::UsageExceeded => Wire::UsageExceeded,
        Domain::RateLimited => Wire::RateLimited,
        Domain::Forbidden => Wire::Forbidden,
    }
}

pub fn key_status(status: keyward_core::KeyStatus) -> keyward_api::KeyStatus {
    use keyward_api::KeyStatus as Wire;
    use keyward_core::KeyStatus as Domain;
    match status {
        Domain::Active => Wire::Active,
        Domain::Disabled => Wire::Disabled,
        Domain::Expired => Wire::Expired,
        Domain::Revoked => Wire::Revoked,
    }
}

pub fn verification_audit(
    audit: keyward_core::VerificationAudit,
) -> keyward_api::VerificationAudit {
    use keyward_api::VerificationAudit as Wire;
    use keyward_core::VerificationAudit as Domain;
    match audit {
        Domain::All => Wire::All,
        Domain::Failures => Wire::Failures,
        Domain::Aggregate => Wire::Aggregate,
        Domain::None => Wire::None,
    }
}

/// The wire kind of an event the server writes (a stored event's kind is read as stored,
/// in [`event_view`]).
pub fn audit_kind(kind: keyward_core::EventKind) -> keyward_api::AuditKind {
    use keyward_api::AuditKind as Wire;
    use keyward_core::EventKind as Domain;
    match kind {
        Domain::WorkspaceCreated => Wire::WorkspaceCreated,
        Domain::RootKeyCreated => Wire::RootKeyCreated,
        Domain::RootKeyRevoked => Wire::RootKeyRevoked,
        Domain::KeyCreated => Wire::KeyCreated,
        Domain::KeyUpdated => Wire::KeyUpdated,
        Domain::KeyRevoked => Wire::KeyRevoked,
        Domain::KeyRotated => Wire::KeyRotated,
        Domain::KeyVerified => Wire::KeyVerified,
        Domain::KeyLeaked => Wire::KeyLeaked,
        Domain::WorkspaceUpdated => Wire::WorkspaceUpdated,
        Domain::PolicyUpdated => Wire::PolicyUpdated,
        Domain::AuditCheckpoint => Wire::AuditCheckpoint,
        Domain::DashboardSignedIn => Wire::DashboardSignedIn,
        Domain::DashboardSignedOut => Wire::DashboardSignedOut,
        Domain::KeyHandoverCreated => Wire::KeyHandoverCreated,
        Domain::KeyPickedUp => Wire::KeyPickedUp,
        Domain::KeyImported => Wire::KeyImported,
        Domain::KeyAutoDisabled => Wire::KeyAutoDisabled,
        Domain::AdviceDismissed => Wire::AdviceDismissed,
        Domain::AdviceSettingsUpdated => Wire::AdviceSettingsUpdated,
    }
}

pub fn advice_item_view(
    item: &keyward_core::advice::AdviceItem,
) -> keyward_api::advice::AdviceItem {
    keyward_api::advice::AdviceItem {
        code: advice_code_view(item.code),
        severity: advice_severity_view(item.severity),
        message: item.message.clone(),
        since: item.since,
        evidence: item.evidence.clone(),
    }
}

pub fn advice_code_view(code: keyward_core::advice::AdviceCode) -> keyward_api::advice::AdviceCode {
    use keyward_api::advice::AdviceCode as Wire;
    use keyward_core::advice::AdviceCode as Domain;
    match code {
        Domain::SharedKey => Wire::SharedKey,
        Domain::UnusedPermissions => Wire::UnusedPermissions,
        Domain::WidePermissions => Wire::WidePermissions,
        Domain::Stale => Wire::Stale,
        Domain::NoExpiry => Wire::NoExpiry,
        Domain::ExpiringSoon => Wire::ExpiringSoon,
        Domain::Imported => Wire::Imported,
        Domain::Leaked => Wire::Leaked,
        Domain::GenericName => Wire::GenericName,
    }
}

fn advice_severity_view(
    severity: keyward_core::advice::Severity,
) -> keyward_api::advice::AdviceSeverity {
    use keyward_api::advice::AdviceSeverity as Wire;
    use keyward_core::advice::Severity as Domain;
    match severity {
        Domain::Critical => Wire::Critical,
        Domain::Warning => Wire::Warning,
        Domain::Info => Wire::Info,
    }
}

pub fn advice_settings_view(
    s: &keyward_core::advice::AdviceSettings,
) -> keyward_api::advice::AdviceSettings {
    keyward_api::advice::AdviceSettings {
        shared_window_days: Some(s.shared_window_days),
        shared_max_networks: Some(s.shared_max_networks),
        shared_max_origins: Some(s.shared_max_origins),
        shared_max_user_agents: Some(s.shared_max_user_agents),
        unused_permission_days: Some(s.unused_permission_days),
        stale_days: Some(s.stale_days),
        auto_disable_days: s.auto_disable_days,
        recommend_expiry: Some(s.recommend_expiry),
        expiring_soon_days: Some(s.expiring_soon_days),
        generic_names: Some(s.generic_names.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire value's JSON string, without its quotes.
    fn json<T: serde::Serialize>(value: &T) -> String {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::String(text)) => text,
            other => format!("not a JSON string: {other:?}"),
        }
    }

    /// The wire spells every domain value exactly as the domain does: the JSON the server
    /// sends is what it sent when these were strings.
    #[test]
    fn wire_enums_spell_every_domain_value_as_the_domain_does() {
        for code in keyward_core::VerifyCode::ALL {
            assert_eq!(json(&verify_code(code)), code.as_str());
            assert!(verify_code(code).is_known());
        }
        for kind in keyward_core::EventKind::ALL {
            assert_eq!(json(&audit_kind(kind)), kind.as_str());
            assert_eq!(
                keyward_api::AuditKind::from(kind.as_str()),
                audit_kind(kind)
            );
        }
        for status in [
            keyward_core::KeyStatus::Active,
            keyward_core::KeyStatus::Disabled,
            keyward_core::KeyStatus::Expired,
            keyward_core::KeyStatus::Revoked,
        ] {
            assert_eq!(json(&key_status(status)), status.as_str());
        }
        for audit in [
            keyward_core::VerificationAudit::All,
            keyward_core::VerificationAudit::Failures,
            keyward_core::VerificationAudit::Aggregate,
            keyward_core::VerificationAudit::None,
        ] {
            assert_eq!(json(&verification_audit(audit)), audit.as_str());
        }
    }
}
