//! The clock that reads the system's time: the application core's, since the domain
//! (`keyward-core`) only ever asks a [`Clock`] for the time.

use chrono::{DateTime, Utc};
use keyward_core::Clock;

/// The real clock, for the server. Truncated to milliseconds, the precision every engine
/// stores, so a time returned at creation equals the time read back later.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_keeps_milliseconds_only() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
