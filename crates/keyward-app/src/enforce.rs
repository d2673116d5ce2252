//! The stateful end of verification, after `decide` answered `VALID`: the rate limit, then
//! credits. Each spends something, so each runs only when every earlier check passed: a
//! request refused by its rate limit spends no credits, and one refused for any earlier reason
//! spends neither.

use crate::error::{AppError, AppResult};
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::{CreditOutcome, KeyRecord, RateLimitDecision, VerifyCode};

/// The final code and what the limits reported.
#[derive(Debug, Clone, Copy)]
pub struct Enforced {
    pub code: VerifyCode,
    pub credits: Option<u64>,
    pub rate_limit: Option<RateLimitDecision>,
}

/// Applies the rate limit and credits of `key` to a verification `decide` answered `code`;
/// `cost` credits are spent (checked against `MAX_CREDITS` when the request was parsed).
pub(crate) async fn enforce(
    state: &Keyward,
    key: Option<&KeyRecord>,
    code: VerifyCode,
    cost: u64,
    now: DateTime<Utc>,
) -> AppResult<Enforced> {
    let mut out = Enforced {
        code,
        credits: None,
        rate_limit: None,
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
        match state
            .store
            .spend_credits(&key.workspace_id, &key.id, cost, now)
            .await?
        {
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
