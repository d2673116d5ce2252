//! Every audit event the core writes is built here, so what an event records (its actor,
//! subject, outcome and detail) is decided in one place.

use crate::fields::RequestContext;
use crate::rights::Principal;
use chrono::{DateTime, Utc};
use keyward_core::advice::{AdviceCode, AdviceSettings};
use keyward_core::audit::{format_time, EventKind};
use keyward_core::{
    Handover, KeyRecord, NewEvent, RootKey, VerifyCode, Workspace, WorkspacePolicy,
    WorkspaceSettings,
};
use std::net::IpAddr;

fn by(principal: &Principal, workspace_id: &str, now: DateTime<Utc>, kind: EventKind) -> NewEvent {
    NewEvent::new(workspace_id, now, kind).actor(principal.id(), principal.name())
}

fn about_key(
    principal: &Principal,
    key: &KeyRecord,
    now: DateTime<Utc>,
    kind: EventKind,
) -> NewEvent {
    by(principal, &key.workspace_id, now, kind).subject(&key.id, &key.name)
}

pub(crate) fn key_created(principal: &Principal, key: &KeyRecord, now: DateTime<Utc>) -> NewEvent {
    about_key(principal, key, now, EventKind::KeyCreated)
}

/// A key another system issued, imported by its digest.
pub(crate) fn key_imported(principal: &Principal, key: &KeyRecord, now: DateTime<Utc>) -> NewEvent {
    about_key(principal, key, now, EventKind::KeyImported)
}

/// `changed`: the fields the update set, in the order they are applied.
pub(crate) fn key_updated(
    principal: &Principal,
    key: &KeyRecord,
    now: DateTime<Utc>,
    changed: &[&str],
) -> NewEvent {
    about_key(principal, key, now, EventKind::KeyUpdated).detail(format!(
        "changed: {}",
        if changed.is_empty() {
            "nothing".into()
        } else {
            changed.join(", ")
        }
    ))
}

pub(crate) fn key_revoked(
    principal: &Principal,
    key: &KeyRecord,
    now: DateTime<Utc>,
    reason: Option<String>,
) -> NewEvent {
    let mut event = about_key(principal, key, now, EventKind::KeyRevoked);
    event.detail = reason;
    event
}

/// `old` as rotated (its subject), replaced by `new_id` and working until `old_until`.
pub(crate) fn key_rotated(
    principal: &Principal,
    old: &KeyRecord,
    new_id: &str,
    old_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> NewEvent {
    about_key(principal, old, now, EventKind::KeyRotated).detail(format!(
        "replaced by {new_id}; the old key works until {}",
        format_time(old_until)
    ))
}

/// A verification, by `principal`, of `key` (none: unknown in the caller's workspace).
pub(crate) fn key_verified(
    principal: &Principal,
    key: Option<&KeyRecord>,
    code: VerifyCode,
    context: RequestContext,
    now: DateTime<Utc>,
) -> NewEvent {
    let mut event = by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::KeyVerified,
    );
    if let Some(key) = key {
        event = event.subject(&key.id, &key.name);
    }
    event.outcome = code.as_str().to_owned();
    context.fill(&mut event);
    event
}

/// A customer key reported leaked (no actor: anyone may report).
pub(crate) fn key_leaked(
    key: &KeyRecord,
    detail: String,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> NewEvent {
    let mut event = NewEvent::new(&key.workspace_id, now, EventKind::KeyLeaked)
        .subject(&key.id, &key.name)
        .detail(detail);
    event.ip = ip.map(|ip| ip.to_string());
    event
}

/// A root key reported leaked.
pub(crate) fn root_key_leaked(
    root: &RootKey,
    detail: &str,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> NewEvent {
    let mut event = NewEvent::new(&root.workspace_id, now, EventKind::KeyLeaked)
        .subject(&root.id, &root.name)
        .detail(format!("root key {detail}"));
    event.ip = ip.map(|ip| ip.to_string());
    event
}

pub(crate) fn root_key_created(
    principal: &Principal,
    root: &RootKey,
    now: DateTime<Utc>,
) -> NewEvent {
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::RootKeyCreated,
    )
    .detail(format!("root key {} ({})", root.id, root.name))
}

pub(crate) fn root_key_revoked(
    principal: &Principal,
    root: &RootKey,
    now: DateTime<Utc>,
) -> NewEvent {
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::RootKeyRevoked,
    )
    .detail(format!("root key {} ({})", root.id, root.name))
}

pub(crate) fn policy_updated(
    principal: &Principal,
    policy: &WorkspacePolicy,
    now: DateTime<Utc>,
) -> NewEvent {
    let detail = match policy.max_key_lifetime_seconds {
        Some(s) => format!("max_key_lifetime_seconds = {s}"),
        None => "max_key_lifetime_seconds = none".to_owned(),
    };
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::PolicyUpdated,
    )
    .detail(detail)
}

pub(crate) fn workspace_updated(
    principal: &Principal,
    settings: &WorkspaceSettings,
    now: DateTime<Utc>,
) -> NewEvent {
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::WorkspaceUpdated,
    )
    .detail(if settings.audit_rules.is_empty() {
        format!(
            "verification_audit={}, audit_retention_days={}",
            settings.verification_audit.as_str(),
            settings.audit_retention_days
        )
    } else {
        format!(
            "verification_audit={}, audit_retention_days={}, audit_rules={}",
            settings.verification_audit.as_str(),
            settings.audit_retention_days,
            settings.audit_rules
        )
    })
}

/// A new workspace and its first root key (`keyward init`, a first `serve`): no principal
/// acted yet, so the root key is its own actor.
pub(crate) fn workspace_created(
    workspace: &Workspace,
    root: &RootKey,
    now: DateTime<Utc>,
) -> Vec<NewEvent> {
    vec![
        NewEvent::new(&workspace.id, now, EventKind::WorkspaceCreated).detail(format!(
            "workspace {:?} with key prefix {}",
            workspace.name, workspace.prefix
        )),
        NewEvent::new(&workspace.id, now, EventKind::RootKeyCreated).actor(&root.id, &root.name),
    ]
}

/// A root key created by operator recovery (`keyward root-key create`, straight in the
/// database): no principal acted.
pub(crate) fn root_key_recovered(root: &RootKey, now: DateTime<Utc>) -> NewEvent {
    let rights = root
        .permissions
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    NewEvent::new(&root.workspace_id, now, EventKind::RootKeyCreated).detail(format!(
        "root key {} ({}) with rights {rights}, created by operator recovery \
         (keyward root-key create, with direct access to the database)",
        root.id, root.name
    ))
}

/// A root key signed in to the dashboard.
pub(crate) fn dashboard_signed_in(principal: &Principal, now: DateTime<Utc>) -> NewEvent {
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::DashboardSignedIn,
    )
}

/// A dashboard session ended by signing out.
pub(crate) fn dashboard_signed_out(principal: &Principal, now: DateTime<Utc>) -> NewEvent {
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::DashboardSignedOut,
    )
}

/// A one-time link made for the handover's key, and until when it works.
pub(crate) fn key_handover_created(
    principal: &Principal,
    handover: &Handover,
    now: DateTime<Utc>,
) -> NewEvent {
    by(
        principal,
        &handover.workspace_id,
        now,
        EventKind::KeyHandoverCreated,
    )
    .subject(&handover.key_id, &handover.key_name)
    .detail(format!(
        "handover {} works once until {}",
        handover.id,
        format_time(handover.expires_at)
    ))
}

/// The handover's link was opened from `ip`: the key was picked up (no actor: whoever had
/// the link).
pub(crate) fn key_picked_up(
    handover: &Handover,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> NewEvent {
    let mut event = NewEvent::new(&handover.workspace_id, now, EventKind::KeyPickedUp)
        .subject(&handover.key_id, &handover.key_name)
        .detail(format!("handover {} opened", handover.id));
    event.ip = ip.map(|ip| ip.to_string());
    event
}

/// A key disabled by the sweep after `days` without use or change (no actor: the
/// workspace's advice settings did it).
pub(crate) fn key_auto_disabled(
    key: &KeyRecord,
    days: u32,
    last_used_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> NewEvent {
    let last = last_used_at.map_or("never used".to_owned(), |t| {
        format!("last used {}", format_time(t))
    });
    NewEvent::new(&key.workspace_id, now, EventKind::KeyAutoDisabled)
        .subject(&key.id, &key.name)
        .detail(format!(
            "disabled after {days} days without use or change ({last}); enabling it again \
             restarts the count"
        ))
}

/// A root key dismissed the key's advice item `code`.
pub(crate) fn advice_dismissed(
    principal: &Principal,
    key: &KeyRecord,
    code: AdviceCode,
    now: DateTime<Utc>,
) -> NewEvent {
    about_key(principal, key, now, EventKind::AdviceDismissed)
        .detail(format!("dismissed {}", code.as_str()))
}

pub(crate) fn advice_settings_updated(
    principal: &Principal,
    settings: &AdviceSettings,
    now: DateTime<Utc>,
) -> NewEvent {
    let auto = settings
        .auto_disable_days
        .map_or("off".to_owned(), |d| d.to_string());
    by(
        principal,
        principal.workspace_id(),
        now,
        EventKind::AdviceSettingsUpdated,
    )
    .detail(format!(
        "shared_window_days={}, shared_max_networks={}, shared_max_origins={}, \
         shared_max_user_agents={}, unused_permission_days={}, stale_days={}, \
         auto_disable_days={auto}, recommend_expiry={}, expiring_soon_days={}, \
         generic_names={}",
        settings.shared_window_days,
        settings.shared_max_networks,
        settings.shared_max_origins,
        settings.shared_max_user_agents,
        settings.unused_permission_days,
        settings.stale_days,
        settings.recommend_expiry,
        settings.expiring_soon_days,
        settings.generic_names.len()
    ))
}
