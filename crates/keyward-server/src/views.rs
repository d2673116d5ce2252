//! Conversions from domain records to wire types.

use chrono::{DateTime, Utc};
use keyward_api::{CreditsView, Key, RateLimitSpec, RefillSpec, RootKeyInfo};
use keyward_core::{Credits, KeyRecord, RootKey};

pub fn key_view(key: &KeyRecord, now: DateTime<Utc>) -> Key {
    Key {
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
