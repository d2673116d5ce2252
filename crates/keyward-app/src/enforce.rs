//! The stateful end of verification, after `decide` answered `VALID`: the rate limit, then
//! credits. Each spends something, so each runs only when every earlier check passed: a
//! request refused by its rate limit spends no credits, and one refused for any earlier reason
//! spends neither. When the verification's event is to be recorded whatever the outcome, the
//! credit spend records it too (`Store::spend_and_record`: one durable write for both).

use crate::error::{AppError, AppResult};
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::{
    CreditOutcome, KeyRecord, NewEvent, RateLimitDecision, RecordedSpend, VerifyCode,
};

/// The final code and what the limits reported.
#[derive(Debug, Clone, Copy)]
pub struct Enforced {
    pub code: VerifyCode,
    pub credits: Option<u64>,
    pub rate_limit: Option<RateLimitDecision>,
    /// Whether the verification's event was recorded with the credit spend.
    pub recorded: bool,
}

/// Applies the rate limit and credits of `key` to a verification `decide` answered `code`;
/// `cost` credits are spent (checked against `MAX_CREDITS` when the request was parsed).
/// `record`, when given, makes the `VALID` event, recorded with the spend (as
/// `USAGE_EXCEEDED` if refused).
pub(crate) async fn enforce(
    state: &Keyward,
    key: Option<&KeyRecord>,
    code: VerifyCode,
    cost: u64,
    now: DateTime<Utc>,
    record: Option<impl FnOnce() -> NewEvent>,
) -> AppResult<Enforced> {
    let mut out = Enforced {
        code,
        credits: None,
        rate_limit: None,
        recorded: false,
    };
    let Some(key) = key.filter(|_| code == VerifyCode::Valid) else {
        return Ok(out);
    };
    let latest = key
        .replaced_by
        .as_ref()
        .and_then(|_| state.index.latest_replacement(key));
    let rate_limit = latest
        .as_deref()
        .map_or(key.restrictions.rate_limit, |l| l.restrictions.rate_limit);
    if let Some(limit) = rate_limit {
        let decision = state
            .limiter
            .hit(&state.index.rate_limit_counter(key), limit, now)
            .await
            .map_err(|e| {
                state.metrics.rate_limit_error();
                AppError::Unavailable(e.to_string())
            })?;
        out.rate_limit = Some(decision);
        if !decision.allowed {
            out.code = VerifyCode::RateLimited;
            return Ok(out);
        }
    }
    // A rotated key spends from its replacement's balance (the store follows the rotation),
    // which may have been given credits after the rotation: ask the store for it too.
    if key.restrictions.credits.is_some() || key.replaced_by.is_some() {
        let outcome = match record {
            Some(event) => {
                let spend = RecordedSpend {
                    workspace_id: key.workspace_id.clone(),
                    key_id: key.id.clone(),
                    cost,
                    now,
                    event: event(),
                };
                let outcome = state.store.spend_and_record(spend).await;
                // Fail closed, as an event that cannot be recorded (`verify`).
                out.recorded = true;
                outcome.map_err(|e| AppError::Unavailable(e.to_string()))?
            }
            None => {
                state
                    .store
                    .spend_credits(&key.workspace_id, &key.id, cost, now)
                    .await?
            }
        };
        match outcome {
            Some(CreditOutcome::Spent { remaining }) => out.credits = Some(remaining),
            Some(CreditOutcome::Exceeded { remaining }) => {
                out.credits = Some(remaining);
                out.code = VerifyCode::UsageExceeded;
            }
            // The credit limit was removed since the index was read: nothing to spend.
            None => {}
        }
    }
    Ok(out)
}
