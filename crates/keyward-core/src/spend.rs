//! A credit spend together with the verification event that records it
//! ([`Store::spend_and_record`](crate::Store::spend_and_record)): the event's outcome depends
//! on whether the spend was granted, so the store decides the spend, sets the outcome and
//! makes both durable together.

use crate::audit::NewEvent;
use crate::credits::CreditOutcome;
use crate::verify::VerifyCode;
use chrono::{DateTime, Utc};

/// Spend `cost` from a key's balance (after its refill as of `now`) and record `event`, the
/// verification as it reads when the spend is granted (`VALID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSpend {
    pub workspace_id: String,
    pub key_id: String,
    pub cost: u64,
    pub now: DateTime<Utc>,
    pub event: NewEvent,
}

impl RecordedSpend {
    /// The event to record for `outcome`: a spend refused for want of credits is recorded as
    /// `USAGE_EXCEEDED`; a granted spend, or none (the key has no credits), as given.
    pub fn event_for(&self, outcome: Option<CreditOutcome>) -> NewEvent {
        event_for_outcome(self.event.clone(), outcome)
    }

    /// [`RecordedSpend::event_for`], taking the event.
    pub fn into_event(self, outcome: Option<CreditOutcome>) -> NewEvent {
        event_for_outcome(self.event, outcome)
    }
}

/// `event` (a verification as recorded when granted) as recorded for `outcome`: a spend refused
/// for want of credits is recorded as `USAGE_EXCEEDED`.
pub fn event_for_outcome(mut event: NewEvent, outcome: Option<CreditOutcome>) -> NewEvent {
    if let Some(CreditOutcome::Exceeded { .. }) = outcome {
        VerifyCode::UsageExceeded
            .as_str()
            .clone_into(&mut event.outcome);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::EventKind;

    #[test]
    fn only_a_refused_spend_changes_the_recorded_outcome() {
        let mut event = NewEvent::new("ws_1", Utc::now(), EventKind::KeyVerified);
        event.outcome = VerifyCode::Valid.as_str().to_owned();
        let spend = RecordedSpend {
            workspace_id: "ws_1".into(),
            key_id: "key_1".into(),
            cost: 1,
            now: Utc::now(),
            event,
        };
        let exceeded = spend.event_for(Some(CreditOutcome::Exceeded { remaining: 0 }));
        assert_eq!(exceeded.outcome, "USAGE_EXCEEDED");
        let spent = spend.event_for(Some(CreditOutcome::Spent { remaining: 3 }));
        assert_eq!(spent.outcome, "VALID");
        assert_eq!(spend.into_event(None).outcome, "VALID");
    }
}
