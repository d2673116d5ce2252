//! Usage credits: a balance each verification spends `cost` from, optionally refilled on a
//! fixed schedule.
//!
//! Refill **resets** the balance to `amount` (it does not add): at every boundary
//! `refilled_at + k × interval` (k ≥ 1) the balance becomes exactly `amount`, and the anchor
//! `refilled_at` moves to the last boundary passed. Boundaries are computed from the stored
//! anchor, never from when a verification happened to arrive, so a key refilled "every hour"
//! refills on the hour of its anchor however sparse its traffic, and applying the refill twice
//! is the same as applying it once. Unused credits do not carry over.

use chrono::{DateTime, Duration, Utc};

/// Largest balance, refill amount or cost: 2^53, the largest integer every JSON client
/// (JavaScript included) reads exactly.
pub const MAX_CREDITS: u64 = 1 << 53;
/// Longest refill interval: ten years.
pub const MAX_REFILL_INTERVAL_SECONDS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditsError {
    #[error("credits are limited to {MAX_CREDITS}")]
    TooMany,
    #[error("refill.interval_seconds must be 1-{MAX_REFILL_INTERVAL_SECONDS}")]
    BadInterval,
    #[error("refill.amount must be at least 1")]
    ZeroRefill,
}

/// How a balance is refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    pub amount: u64,
    pub interval_seconds: u64,
}

impl Refill {
    pub fn new(amount: u64, interval_seconds: u64) -> Result<Self, CreditsError> {
        if amount == 0 {
            return Err(CreditsError::ZeroRefill);
        }
        if amount > MAX_CREDITS {
            return Err(CreditsError::TooMany);
        }
        if !(1..=MAX_REFILL_INTERVAL_SECONDS).contains(&interval_seconds) {
            return Err(CreditsError::BadInterval);
        }
        Ok(Self {
            amount,
            interval_seconds,
        })
    }

    fn interval_ms(self) -> i64 {
        // Bounded by MAX_REFILL_INTERVAL_SECONDS, so this cannot overflow.
        i64::try_from(self.interval_seconds)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000)
    }
}

/// A key's credit balance as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits {
    pub remaining: u64,
    pub refill: Option<Refill>,
    /// The anchor of the refill schedule: when the balance was set or last refilled.
    pub refilled_at: DateTime<Utc>,
}

/// What spending did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditOutcome {
    /// `cost` was taken; `remaining` is what is left.
    Spent { remaining: u64 },
    /// Not enough credits: nothing was taken.
    Exceeded { remaining: u64 },
}

impl CreditOutcome {
    pub fn remaining(self) -> u64 {
        match self {
            Self::Spent { remaining } | Self::Exceeded { remaining } => remaining,
        }
    }
}

impl Credits {
    /// A new balance of `remaining`, its refill schedule anchored at `now`.
    pub fn new(
        remaining: u64,
        refill: Option<Refill>,
        now: DateTime<Utc>,
    ) -> Result<Self, CreditsError> {
        if remaining > MAX_CREDITS {
            return Err(CreditsError::TooMany);
        }
        Ok(Self {
            remaining,
            refill,
            refilled_at: now,
        })
    }

    /// The balance at `now`, with every refill boundary up to `now` applied.
    pub fn at(self, now: DateTime<Utc>) -> Self {
        let Some(refill) = self.refill else {
            return self;
        };
        let interval = refill.interval_ms();
        let elapsed = now.timestamp_millis() - self.refilled_at.timestamp_millis();
        if interval <= 0 || elapsed < interval {
            return self;
        }
        let boundaries = elapsed / interval;
        let moved = Duration::milliseconds(boundaries.saturating_mul(interval));
        Self {
            remaining: refill.amount,
            refill: self.refill,
            refilled_at: self.refilled_at + moved,
        }
    }

    /// Refills as of `now`, then takes `cost` if that many remain; otherwise takes nothing.
    pub fn spend(self, cost: u64, now: DateTime<Utc>) -> (Self, CreditOutcome) {
        let current = self.at(now);
        match current.remaining.checked_sub(cost) {
            Some(remaining) => (
                Self {
                    remaining,
                    ..current
                },
                CreditOutcome::Spent { remaining },
            ),
            None => (
                current,
                CreditOutcome::Exceeded {
                    remaining: current.remaining,
                },
            ),
        }
    }

    /// When the next refill happens, if any.
    pub fn next_refill_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let refill = self.refill?;
        let current = self.at(now);
        Some(current.refilled_at + Duration::milliseconds(refill.interval_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn spending_takes_cost_or_nothing() {
        let c = Credits::new(3, None, t0()).unwrap();
        let (c, out) = c.spend(2, t0());
        assert_eq!(out, CreditOutcome::Spent { remaining: 1 });
        let (c, out) = c.spend(2, t0());
        assert_eq!(out, CreditOutcome::Exceeded { remaining: 1 });
        assert_eq!(c.remaining, 1, "a refused spend takes nothing");
        let (c, out) = c.spend(0, t0());
        assert_eq!(out, CreditOutcome::Spent { remaining: 1 });
        let (_, out) = c.spend(1, t0() + Duration::days(400));
        assert_eq!(
            out,
            CreditOutcome::Spent { remaining: 0 },
            "no refill, no more"
        );
    }

    #[test]
    fn refill_resets_to_amount_exactly_on_the_boundary() {
        let hourly = Refill::new(10, 3600).unwrap();
        let c = Credits::new(10, Some(hourly), t0()).unwrap();
        let (c, _) = c.spend(10, t0());
        let just_before = t0() + Duration::seconds(3600) - Duration::milliseconds(1);
        assert_eq!(c.at(just_before).remaining, 0);
        assert_eq!(
            c.next_refill_at(just_before),
            Some(t0() + Duration::hours(1))
        );
        let on = t0() + Duration::hours(1);
        assert_eq!(c.at(on).remaining, 10);
        assert_eq!(c.at(on).refilled_at, on);
        // Several boundaries passed: still reset to amount, anchor on the last boundary.
        let later = t0() + Duration::minutes(5 * 60 + 30);
        let r = c.at(later);
        assert_eq!(r.remaining, 10);
        assert_eq!(r.refilled_at, t0() + Duration::hours(5));
        assert_eq!(r.next_refill_at(later), Some(t0() + Duration::hours(6)));
    }

    #[test]
    fn refill_does_not_add_to_a_larger_balance() {
        let c = Credits::new(500, Some(Refill::new(10, 60).unwrap()), t0()).unwrap();
        assert_eq!(c.at(t0() + Duration::seconds(60)).remaining, 10);
    }

    #[test]
    fn a_clock_that_went_back_does_not_refill() {
        let c = Credits::new(0, Some(Refill::new(10, 60).unwrap()), t0()).unwrap();
        assert_eq!(c.at(t0() - Duration::days(1)).remaining, 0);
    }

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(
            Credits::new(MAX_CREDITS + 1, None, t0()),
            Err(CreditsError::TooMany)
        );
        assert_eq!(Refill::new(0, 60), Err(CreditsError::ZeroRefill));
        assert_eq!(Refill::new(1, 0), Err(CreditsError::BadInterval));
        assert_eq!(
            Refill::new(1, MAX_REFILL_INTERVAL_SECONDS + 1),
            Err(CreditsError::BadInterval)
        );
    }

    proptest! {
        #[test]
        fn refilling_is_idempotent_and_anchored(
            amount in 1u64..1000, interval in 1u64..100_000, start in 0u64..1000,
            a in 0i64..10_000_000_000, b in 0i64..10_000_000_000,
        ) {
            let c = Credits::new(start, Some(Refill::new(amount, interval).unwrap()), t0()).unwrap();
            let (first, second) = (a.min(b), a.max(b));
            let t1 = t0() + Duration::milliseconds(first);
            let t2 = t0() + Duration::milliseconds(second);
            // Applying at t1 then at t2 equals applying at t2 directly.
            prop_assert_eq!(c.at(t1).at(t2), c.at(t2));
            prop_assert_eq!(c.at(t2).at(t2), c.at(t2));
            // The anchor is always a whole number of intervals after the original one.
            let moved = c.at(t2).refilled_at - t0();
            prop_assert_eq!(moved.num_milliseconds() % (interval as i64 * 1000), 0);
            prop_assert!(c.at(t2).refilled_at <= t2);
        }

        #[test]
        fn within_one_interval_spends_add_up(
            start in 0u64..200, costs in proptest::collection::vec(0u64..20, 0..50)
        ) {
            let mut c = Credits::new(start, Some(Refill::new(5, 3600).unwrap()), t0()).unwrap();
            let mut spent = 0;
            for cost in costs {
                let (next, out) = c.spend(cost, t0() + Duration::seconds(1));
                if let CreditOutcome::Spent { .. } = out { spent += cost; }
                c = next;
            }
            prop_assert_eq!(c.remaining + spent, start);
        }
    }
}
