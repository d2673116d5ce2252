//! The verification decision: given the stored key (if any) and what the caller asks for,
//! which code to answer. Checks run in a fixed, documented order and the first failure wins:
//! checksum → existence → revoked → expired → disabled → network binding (`FORBIDDEN`) →
//! permissions → rate limit → credits.
//!
//! The checksum is checked by the caller (a malformed key never reaches a lookup). `decide`
//! makes every stateless check; the last two spend something (a rate-limit slot, credits),
//! so the server makes them afterwards, only when `decide` answered `VALID`, and in that
//! order: a request refused by its rate limit spends no credits.

use crate::model::{KeyRecord, KeyStatus};
use crate::query::PermissionQuery;
use crate::restrictions::{ip_allowed, origin_allowed};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    Valid,
    NotFound,
    Revoked,
    Expired,
    Disabled,
    InsufficientPermissions,
    UsageExceeded,
    RateLimited,
    Forbidden,
}

impl VerifyCode {
    pub const ALL: [VerifyCode; 9] = [
        Self::Valid,
        Self::NotFound,
        Self::Revoked,
        Self::Expired,
        Self::Disabled,
        Self::InsufficientPermissions,
        Self::UsageExceeded,
        Self::RateLimited,
        Self::Forbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::Disabled => "DISABLED",
            Self::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            Self::UsageExceeded => "USAGE_EXCEEDED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Forbidden => "FORBIDDEN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the calling service reports about a request presenting a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The permission (or expression) the request needs.
    pub required: Option<&'a PermissionQuery>,
    /// The client's IP address, as the calling service saw it.
    pub ip: Option<&'a str>,
    /// The `Origin` header the calling service received.
    pub origin: Option<&'a str>,
}

/// Decide the outcome for `key` (already scoped to the caller's workspace) at `now`, up to
/// and including permissions; `VALID` here still has the rate limit and credits to pass.
pub fn decide(
    key: Option<&KeyRecord>,
    presented: &Presented<'_>,
    now: DateTime<Utc>,
) -> VerifyCode {
    let required = presented.required;
    let Some(key) = key else {
        return VerifyCode::NotFound;
    };
    match key.status(now) {
        KeyStatus::Revoked => return VerifyCode::Revoked,
        KeyStatus::Expired => return VerifyCode::Expired,
        KeyStatus::Disabled => return VerifyCode::Disabled,
        KeyStatus::Active => {}
    }
    let binding = &key.restrictions;
    if !ip_allowed(&binding.ip_allowlist, presented.ip)
        || !origin_allowed(&binding.origin_allowlist, presented.origin)
    {
        return VerifyCode::Forbidden;
    }
    if required.is_some_and(|q| !q.is_satisfied_by(&key.permissions)) {
        return VerifyCode::InsufficientPermissions;
    }
    VerifyCode::Valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::KeyHash;
    use crate::permission::Permission;
    use crate::restrictions::{IpRange, Origin};
    use chrono::{Duration, TimeZone};

    fn key(now: DateTime<Utc>) -> KeyRecord {
        KeyRecord {
            imported: false,
            id: "key_1".into(),
            workspace_id: "ws_1".into(),
            name: "Stripe Invoice Sending Integration".into(),
            description: None,
            owner_id: None,
            hash: KeyHash::of("x"),
            start: "bos_abcd".into(),
            permissions: vec![Permission::parse("invoices:*").unwrap()],
            enabled: true,
            expires_at: None,
            metadata: Default::default(),
            created_at: now,
            updated_at: now,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: Default::default(),
        }
    }

    fn asking<'a>(q: Option<&'a PermissionQuery>) -> Presented<'a> {
        Presented {
            required: q,
            ..Presented::default()
        }
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let q = PermissionQuery::parse("payroll:read").unwrap();
        let mut k = key(now);
        let p = asking(Some(&q));
        assert_eq!(decide(None, &p, now), VerifyCode::NotFound);
        assert_eq!(decide(Some(&k), &asking(None), now), VerifyCode::Valid);
        assert_eq!(
            decide(Some(&k), &p, now),
            VerifyCode::InsufficientPermissions
        );
        k.restrictions.ip_allowlist = vec![IpRange::parse("10.0.0.0/8").unwrap()];
        assert_eq!(decide(Some(&k), &p, now), VerifyCode::Forbidden);
        let inside = Presented {
            ip: Some("10.1.2.3"),
            ..p
        };
        assert_eq!(
            decide(Some(&k), &inside, now),
            VerifyCode::InsufficientPermissions
        );
        k.restrictions.origin_allowlist = vec![Origin::parse("https://app.example.com").unwrap()];
        assert_eq!(decide(Some(&k), &inside, now), VerifyCode::Forbidden);
        let both = Presented {
            origin: Some("https://app.example.com"),
            ..inside
        };
        assert_eq!(
            decide(Some(&k), &both, now),
            VerifyCode::InsufficientPermissions
        );
        k.enabled = false;
        assert_eq!(decide(Some(&k), &p, now), VerifyCode::Disabled);
        k.expires_at = Some(now);
        assert_eq!(decide(Some(&k), &p, now), VerifyCode::Expired);
        assert_eq!(
            decide(Some(&k), &p, now - Duration::seconds(1)),
            VerifyCode::Disabled
        );
        k.revoked_at = Some(now);
        assert_eq!(decide(Some(&k), &p, now), VerifyCode::Revoked);
    }

    #[test]
    fn codes_round_trip_through_their_names() {
        for code in VerifyCode::ALL {
            assert_eq!(VerifyCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
