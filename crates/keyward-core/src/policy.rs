//! Workspace policy: rules that bind every key a workspace issues. Today one rule: a maximum
//! key lifetime, which makes every new key expire, and within that lifetime.

use chrono::{DateTime, Duration, Utc};

/// Longest lifetime a policy may set: ten years.
pub const MAX_LIFETIME_SECONDS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspacePolicy {
    /// When set, every key created (or given a new expiry) must expire within this many
    /// seconds of that moment.
    pub max_key_lifetime_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("this workspace's policy requires every key to expire within {0} seconds: set expires_in (at most {0}) or expires_at")]
    ExpiryRequired(u64),
    #[error("this workspace's policy limits key lifetime to {max} seconds; the requested expiry is {requested} seconds away")]
    TooLong { max: u64, requested: i64 },
    #[error("max_key_lifetime_seconds must be 1-{MAX_LIFETIME_SECONDS}")]
    BadLifetime,
}

impl WorkspacePolicy {
    pub fn new(max_key_lifetime_seconds: Option<u64>) -> Result<Self, PolicyError> {
        if max_key_lifetime_seconds.is_some_and(|s| !(1..=MAX_LIFETIME_SECONDS).contains(&s)) {
            return Err(PolicyError::BadLifetime);
        }
        Ok(Self {
            max_key_lifetime_seconds,
        })
    }

    /// Whether a key may be given `expires_at` at `now`.
    pub fn check_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), PolicyError> {
        let Some(max) = self.max_key_lifetime_seconds else {
            return Ok(());
        };
        let Some(at) = expires_at else {
            return Err(PolicyError::ExpiryRequired(max));
        };
        let max_span = Duration::seconds(i64::try_from(max).unwrap_or(i64::MAX / 1000));
        if at - now > max_span {
            return Err(PolicyError::TooLong {
                max,
                requested: (at - now).num_seconds(),
            });
        }
        Ok(())
    }

    /// The expiry of a key issued at `now` in place of one expiring at `expires_at` (a
    /// rotation): unchanged without a maximum lifetime, else no later than `now + max`.
    pub fn cap_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let Some(max) = self.max_key_lifetime_seconds else {
            return expires_at;
        };
        let latest = now + Duration::seconds(i64::try_from(max).unwrap_or(i64::MAX / 1000));
        Some(expires_at.map_or(latest, |at| at.min(latest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_max_lifetime_requires_an_expiry_within_it() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let open = WorkspacePolicy::default();
        assert_eq!(open.check_expiry(None, now), Ok(()));
        let p = WorkspacePolicy::new(Some(3600)).unwrap();
        assert_eq!(
            p.check_expiry(None, now),
            Err(PolicyError::ExpiryRequired(3600))
        );
        assert_eq!(p.check_expiry(Some(now + Duration::hours(1)), now), Ok(()));
        assert!(matches!(
            p.check_expiry(Some(now + Duration::seconds(3601)), now),
            Err(PolicyError::TooLong {
                max: 3600,
                requested: 3601
            })
        ));
        assert_eq!(WorkspacePolicy::new(Some(0)), Err(PolicyError::BadLifetime));
    }

    #[test]
    fn a_replacement_key_expires_within_the_max_lifetime_and_never_later_than_before() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let soon = Some(now + Duration::minutes(5));
        assert_eq!(WorkspacePolicy::default().cap_expiry(None, now), None);
        assert_eq!(WorkspacePolicy::default().cap_expiry(soon, now), soon);
        let p = WorkspacePolicy::new(Some(3600)).unwrap();
        assert_eq!(p.cap_expiry(None, now), Some(now + Duration::hours(1)));
        assert_eq!(
            p.cap_expiry(Some(now + Duration::days(9)), now),
            Some(now + Duration::hours(1))
        );
        assert_eq!(p.cap_expiry(soon, now), soon);
    }
}
