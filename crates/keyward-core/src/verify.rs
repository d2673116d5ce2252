//! The verification decision: given the stored key (if any) and what the caller asks for,
//! which code to answer. Checks run in a fixed, documented order and the first failure wins:
//! existence → revoked → expired → disabled → permissions.

use crate::model::{KeyRecord, KeyStatus};
use crate::query::PermissionQuery;
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

/// Decide the outcome for `key` (already scoped to the caller's workspace) at `now`.
pub fn decide(
    key: Option<&KeyRecord>,
    required: Option<&PermissionQuery>,
    now: DateTime<Utc>,
) -> VerifyCode {
    let Some(key) = key else {
        return VerifyCode::NotFound;
    };
    match key.status(now) {
        KeyStatus::Revoked => return VerifyCode::Revoked,
        KeyStatus::Expired => return VerifyCode::Expired,
        KeyStatus::Disabled => return VerifyCode::Disabled,
        KeyStatus::Active => {}
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
    use chrono::{Duration, TimeZone};

    fn key(now: DateTime<Utc>) -> KeyRecord {
        KeyRecord {
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
        }
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let q = PermissionQuery::parse("payroll:read").unwrap();
        let mut k = key(now);
        assert_eq!(decide(None, None, now), VerifyCode::NotFound);
        assert_eq!(decide(Some(&k), None, now), VerifyCode::Valid);
        assert_eq!(
            decide(Some(&k), Some(&q), now),
            VerifyCode::InsufficientPermissions
        );
        k.enabled = false;
        assert_eq!(decide(Some(&k), Some(&q), now), VerifyCode::Disabled);
        k.expires_at = Some(now);
        assert_eq!(decide(Some(&k), Some(&q), now), VerifyCode::Expired);
        assert_eq!(
            decide(Some(&k), Some(&q), now - Duration::seconds(1)),
            VerifyCode::Disabled
        );
        k.revoked_at = Some(now);
        assert_eq!(decide(Some(&k), Some(&q), now), VerifyCode::Revoked);
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
