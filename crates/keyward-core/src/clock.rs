//! Time is injected: the domain never reads the system clock itself, so expiry and grace
//! periods are tested by moving a [`ManualClock`] instead of sleeping. The clock that reads
//! the system's time is the application core's (`keyward_app::SystemClock`).

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// The source of "now" for every time-dependent rule.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that only moves when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
