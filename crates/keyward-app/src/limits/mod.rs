//! Rate-limit counters (the rate limit itself is applied by `enforce.rs`).
//!
//! Where counters live is chosen once, from config, behind [`RateLimiter`]: in this process's
//! memory on a single node, or in Redis (`KEYWARD_REDIS_URL`) so that every node counts
//! against the same limit. Nothing else in the core knows which one it has.
//!
//! **Redis unreachable:** fail closed. A key *with* a rate limit cannot be verified without
//! its counter, so verify answers `503` (`{"error": {"code": "unavailable"}}`) rather than
//! `VALID` (which would let a phished key through unlimited) or `RATE_LIMITED` (which would
//! tell the calling service a lie about the key). Keys without a rate limit keep verifying.
//! Each Redis round-trip is bounded by [`redis::OP_TIMEOUT`], so an outage costs a request at
//! most that long.

mod memory;
pub mod redis;

pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

use chrono::{DateTime, Utc};
use keyward_core::{RateLimit, RateLimitDecision};

/// Why a counter could not be read or written. The message is for logs only.
#[derive(Debug)]
pub struct LimiterError(pub String);

impl std::fmt::Display for LimiterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rate-limit counters unavailable: {}", self.0)
    }
}

/// Where rate-limit counters live.
pub enum RateLimiter {
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

impl RateLimiter {
    /// Redis when `redis_url` is given (not connected yet: the first verification of a
    /// rate-limited key connects), memory otherwise.
    pub fn from_config(redis_url: Option<&str>) -> Result<Self, LimiterError> {
        match redis_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Ok(Self::Redis(RedisLimiter::new(url)?)),
            None => Ok(Self::Memory(MemoryLimiter::default())),
        }
    }

    /// Counts one request for `key_id` in the window `now` falls in, and decides.
    pub async fn hit(
        &self,
        key_id: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<RateLimitDecision, LimiterError> {
        let window = limit.window(now);
        let count = match self {
            Self::Memory(m) => m.count(key_id, limit, window, now),
            Self::Redis(r) => r.count(key_id, limit, window, now).await?,
        };
        Ok(limit.decide(window, count))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }
}
