//! Conversions from domain records to wire types.

use chrono::{DateTime, Utc};
use keyward_api::{
    CreditsView, Key, Policy, RateLimitSpec, RateLimitState, RefillSpec, RootKeyInfo,
    VerifyResponse,
};
use keyward_app::usage::UsageTracker;
use keyward_app::{ChainCheck, Verification};
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
        permissions: key.permissions.iter().map(|p| p.to_string()).collect(),
        status: key.status(now).as_str().to_owned(),
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
        kind: ev.kind,
        actor_id: ev.actor_id,
        actor_name: ev.actor_name,
        key_id: ev.key_id,
        key_name: ev.key_name,
        action: ev.action,
        resource: ev.resource,
        outcome: ev.outcome,
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
    let code = v.code.as_str().to_owned();
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
    }
}

pub fn settings_view(s: &WorkspaceSettings) -> keyward_api::WorkspaceSettings {
    keyward_api::WorkspaceSettings {
        workspace_id: s.workspace_id.clone(),
        verification_audit: s.verification_audit.as_str().to_owned(),
        audit_retention_days: s.audit_retention_days,
    }
}

pub fn policy_view(policy: &WorkspacePolicy) -> Policy {
    Policy {
        max_key_lifetime_seconds: policy.max_key_lifetime_seconds,
    }
}
