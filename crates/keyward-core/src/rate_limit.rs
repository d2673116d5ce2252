//! Rate-limit arithmetic: fixed windows of `window_seconds`, aligned to the unix epoch, so
//! every node (and Redis) computes the same window from the same clock reading. A window's
//! counter is keyed by its index; a request is allowed while the counter, after counting it,
//! is at most `limit`. Where the counter lives (memory, Redis) is the server's business.

use chrono::{DateTime, Utc};

/// Largest `limit`.
pub const MAX_LIMIT: u64 = 1_000_000_000;
/// Longest window: one day.
pub const MAX_WINDOW_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("rate_limit.limit must be 1-{MAX_LIMIT}")]
    BadLimit,
    #[error("rate_limit.window_seconds must be 1-{MAX_WINDOW_SECONDS}")]
    BadWindow,
}

/// At most `limit` verifications per `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub window_seconds: u64,
}

/// One window of one limit: its index since the epoch and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub index: i64,
    pub reset: DateTime<Utc>,
}

/// The answer for one request, as verify reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// When the current window ends and the counter starts again.
    pub reset: DateTime<Utc>,
}

impl RateLimit {
    pub fn new(limit: u64, window_seconds: u64) -> Result<Self, RateLimitError> {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(RateLimitError::BadLimit);
        }
        if !(1..=MAX_WINDOW_SECONDS).contains(&window_seconds) {
            return Err(RateLimitError::BadWindow);
        }
        Ok(Self {
            limit,
            window_seconds,
        })
    }

    fn window_ms(self) -> i64 {
        i64::try_from(self.window_seconds)
            .unwrap_or(1)
            .clamp(1, i64::MAX / 1000)
            * 1000
    }

    /// The window `now` falls in.
    pub fn window(self, now: DateTime<Utc>) -> Window {
        let width = self.window_ms();
        let index = now.timestamp_millis().div_euclid(width);
        let end = index.saturating_add(1).saturating_mul(width);
        Window {
            index,
            reset: DateTime::from_timestamp_millis(end).unwrap_or(now),
        }
    }

    /// The decision once this request has been counted and the window's counter is `count`.
    pub fn decide(self, window: Window, count: u64) -> RateLimitDecision {
        RateLimitDecision {
            allowed: count <= self.limit,
            limit: self.limit,
            remaining: self.limit.saturating_sub(count),
            reset: window.reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let rl = RateLimit::new(3, 60).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 59).unwrap();
        let w = rl.window(t);
        assert_eq!(w.reset, Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 0).unwrap());
        assert_eq!(rl.window(t + Duration::milliseconds(999)).index, w.index);
        assert_eq!(rl.window(t + Duration::seconds(1)).index, w.index + 1);
        assert_eq!(rl.window(t - Duration::seconds(59)).index, w.index);
    }

    #[test]
    fn the_limit_counts_the_request_itself() {
        let rl = RateLimit::new(2, 10).unwrap();
        let w = rl.window(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let d = rl.decide(w, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
        assert!(rl.decide(w, 2).allowed);
        let denied = rl.decide(w, 3);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
    }

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(RateLimit::new(0, 1), Err(RateLimitError::BadLimit));
        assert_eq!(RateLimit::new(1, 0), Err(RateLimitError::BadWindow));
        assert_eq!(
            RateLimit::new(1, MAX_WINDOW_SECONDS + 1),
            Err(RateLimitError::BadWindow)
        );
    }

    proptest! {
        #[test]
        fn a_window_contains_now_and_ends_at_reset(ms in 0i64..4_000_000_000_000, w in 1u64..=MAX_WINDOW_SECONDS) {
            let rl = RateLimit::new(1, w).unwrap();
            let now = DateTime::from_timestamp_millis(ms).unwrap();
            let window = rl.window(now);
            prop_assert!(window.reset > now);
            prop_assert!(window.reset - now <= Duration::seconds(w as i64));
            prop_assert_eq!(rl.window(window.reset).index, window.index + 1);
        }
    }
}
