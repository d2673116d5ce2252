//! Rate-limit counters in this process's memory: exact on one node, lost on restart (a
//! restart at worst grants one fresh window).

use chrono::{DateTime, Utc};
use keyward_core::rate_limit::Window;
use keyward_core::RateLimit;
use std::collections::HashMap;
use std::sync::Mutex;

/// Counters are pruned of ended windows when the map has grown past this many entries.
const PRUNE_AT: usize = 4096;

#[derive(Default)]
pub struct MemoryLimiter {
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    /// `(key id, window width)` → the window counted and its count.
    by_key: HashMap<(String, u64), (Window, u64)>,
    prune_at: usize,
}

impl MemoryLimiter {
    /// Counts this request and returns the window's count including it.
    pub fn count(&self, key_id: &str, limit: RateLimit, window: Window, now: DateTime<Utc>) -> u64 {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if counters.by_key.len() >= counters.prune_at.max(PRUNE_AT) {
            counters.by_key.retain(|_, (w, _)| w.reset > now);
            counters.prune_at = counters.by_key.len() * 2;
        }
        let entry = counters
            .by_key
            .entry((key_id.to_owned(), limit.window_seconds))
            .or_insert((window, 0));
        if entry.0.index != window.index {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn counts_per_key_and_window_and_prunes_ended_windows() {
        let limiter = MemoryLimiter::default();
        let rl = RateLimit::new(2, 10).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let w = rl.window(t);
        assert_eq!(limiter.count("a", rl, w, t), 1);
        assert_eq!(limiter.count("a", rl, w, t), 2);
        assert_eq!(limiter.count("b", rl, w, t), 1);
        let later = t + Duration::seconds(10);
        assert_eq!(limiter.count("a", rl, rl.window(later), later), 1);
        for i in 0..PRUNE_AT - 2 {
            limiter.count(&format!("k{i}"), rl, w, t);
        }
        let much_later = t + Duration::hours(1);
        limiter.count("z", rl, rl.window(much_later), much_later);
        let size = limiter.counters.lock().unwrap().by_key.len();
        assert_eq!(size, 1, "ended windows were pruned");
    }
}
