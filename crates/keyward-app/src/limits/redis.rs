//! Rate-limit counters in Redis, shared by every node: one key per (key id, window width,
//! window index), incremented and given an expiry in one `MULTI`, so concurrent requests on
//! any node each get a distinct count. Windows come from the node's clock (keep nodes in NTP
//! sync); a counter expires a second after its window ends, by a relative TTL computed from
//! the node's clock, so Redis's own clock never matters.

use super::LimiterError;
use chrono::{DateTime, Utc};
use keyward_core::rate_limit::Window;
use keyward_core::RateLimit;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Longest a verification waits on Redis before failing closed.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Counter keys outlive their window by this much, so a late node still counts into them.
const EXPIRY_SLACK_MS: i64 = 1000;

pub struct RedisLimiter {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
}

impl RedisLimiter {
    /// Checks the URL; connects on first use (and reconnects after failures by itself).
    pub fn new(url: &str) -> Result<Self, LimiterError> {
        // The error names the problem, never the URL (which may hold a password).
        let client = redis::Client::open(url)
            .map_err(|e| LimiterError(format!("invalid KEYWARD_REDIS_URL ({})", e.category())))?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, LimiterError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(OP_TIMEOUT)
            .set_response_timeout(OP_TIMEOUT)
            .set_number_of_retries(1);
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(|e| LimiterError(format!("cannot connect to Redis: {e}")))
    }

    /// Counts this request and returns the window's count including it.
    pub async fn count(
        &self,
        key_id: &str,
        limit: RateLimit,
        window: Window,
        now: DateTime<Utc>,
    ) -> Result<u64, LimiterError> {
        let counter = format!(
            "keyward:rl:{key_id}:{}:{}",
            limit.window_seconds, window.index
        );
        let ttl_ms = (window.reset - now).num_milliseconds().max(0) + EXPIRY_SLACK_MS;
        let work = async {
            let mut conn = self.connection().await?;
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .incr(&counter, 1u64)
                .pexpire(&counter, ttl_ms)
                .ignore()
                .query_async(&mut conn)
                .await
                .map_err(|e| LimiterError(format!("Redis command failed: {e}")))?;
            Ok(count)
        };
        tokio::time::timeout(OP_TIMEOUT * 2, work)
            .await
            .map_err(|_| LimiterError("Redis did not answer in time".into()))?
    }
}
