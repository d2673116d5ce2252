//! Request fields for key restrictions and limits, turned into domain values (`400` with a
//! clear message for anything invalid): expiry (`expires_at` or `expires_in`, within the
//! workspace policy), IP and origin allowlists, credits and rate limit. Used by create and
//! update in `keys.rs`.

use crate::error::ApiError;
use crate::handlers::fields;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use keyward_api::{CreateKeyRequest, CreditsSpec, RateLimitSpec, UpdateKeyRequest};
use keyward_core::policy::MAX_LIFETIME_SECONDS;
use keyward_core::restrictions::{parse_list, RestrictionError};
use keyward_core::{Credits, IpRange, KeyRecord, Origin, RateLimit, Refill, Restrictions, Store};

fn bad(e: impl ToString) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The expiry asked for by `expires_at` or `expires_in` (not both), in the future.
pub fn expiry(
    expires_at: Option<DateTime<Utc>>,
    expires_in: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    match (expires_at, expires_in) {
        (Some(_), Some(_)) => Err(bad("set expires_at or expires_in, not both")),
        (at, None) => fields::future_expiry(at, now),
        (None, Some(seconds)) => {
            if !(1..=MAX_LIFETIME_SECONDS).contains(&seconds) {
                return Err(bad(format!(
                    "expires_in must be 1-{MAX_LIFETIME_SECONDS} seconds"
                )));
            }
            let seconds = i64::try_from(seconds).map_err(bad)?;
            Ok(Some(now + Duration::seconds(seconds)))
        }
    }
}

/// `400` unless the workspace's policy allows a key expiring at `expires_at`.
pub async fn check_policy(
    store: &dyn Store,
    workspace_id: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let policy = store.workspace_policy(workspace_id).await?;
    policy.check_expiry(expires_at, now).map_err(bad)
}

pub fn ip_allowlist(raw: &[String]) -> Result<Vec<IpRange>, ApiError> {
    parse_list(raw, IpRange::parse).map_err(|e| allowlist_error("ip_allowlist", e))
}

pub fn origin_allowlist(raw: &[String]) -> Result<Vec<Origin>, ApiError> {
    parse_list(raw, Origin::parse).map_err(|e| allowlist_error("origin_allowlist", e))
}

/// `ip_allowlist[2]: not an IP address …`: the position of the entry, never its text.
fn allowlist_error(field: &str, e: RestrictionError) -> ApiError {
    match e {
        RestrictionError::Entry { index, error } => bad(format!("{field}[{index}]: {error}")),
        other => bad(format!("{field}: {other}")),
    }
}

/// A new balance from `spec`, its refill schedule anchored at `now`.
pub fn credits(spec: &CreditsSpec, now: DateTime<Utc>) -> Result<Credits, ApiError> {
    let refill = spec
        .refill
        .map(|r| Refill::new(r.amount, r.interval_seconds))
        .transpose()
        .map_err(|e| bad(format!("credits: {e}")))?;
    Credits::new(spec.remaining, refill, now).map_err(|e| bad(format!("credits: {e}")))
}

pub fn rate_limit(spec: &RateLimitSpec) -> Result<RateLimit, ApiError> {
    RateLimit::new(spec.limit, spec.window_seconds).map_err(bad)
}

/// The restrictions a create request asks for.
pub fn for_create(req: &CreateKeyRequest, now: DateTime<Utc>) -> Result<Restrictions, ApiError> {
    Ok(Restrictions {
        ip_allowlist: ip_allowlist(req.ip_allowlist.as_deref().unwrap_or_default())?,
        origin_allowlist: origin_allowlist(req.origin_allowlist.as_deref().unwrap_or_default())?,
        credits: req.credits.as_ref().map(|c| credits(c, now)).transpose()?,
        rate_limit: req.rate_limit.as_ref().map(rate_limit).transpose()?,
    })
}

/// Applies an update request's expiry and restriction fields to `key`, noting each changed
/// field in `changed`. Returns whether the credits were set (so the balance must be written).
pub async fn apply_update(
    state: &AppState,
    key: &mut KeyRecord,
    req: &UpdateKeyRequest,
    now: DateTime<Utc>,
    changed: &mut Vec<&'static str>,
) -> Result<bool, ApiError> {
    let new_expiry = match (req.expires_at, req.expires_in) {
        (None, None) => None,
        (Some(Some(_)), Some(_)) | (Some(None), Some(_)) => {
            return Err(bad("set expires_at or expires_in, not both"))
        }
        (Some(at), None) => Some(fields::future_expiry(at, now)?),
        (None, Some(seconds)) => Some(expiry(None, Some(seconds), now)?),
    };
    if let Some(expires_at) = new_expiry {
        check_policy(state.store.as_ref(), &key.workspace_id, expires_at, now).await?;
        key.expires_at = expires_at;
        changed.push("expires_at");
    }
    if let Some(raw) = &req.ip_allowlist {
        key.restrictions.ip_allowlist = ip_allowlist(raw)?;
        changed.push("ip_allowlist");
    }
    if let Some(raw) = &req.origin_allowlist {
        key.restrictions.origin_allowlist = origin_allowlist(raw)?;
        changed.push("origin_allowlist");
    }
    if let Some(spec) = &req.rate_limit {
        key.restrictions.rate_limit = spec.as_ref().map(rate_limit).transpose()?;
        changed.push("rate_limit");
    }
    let credits_set = match &req.credits {
        Some(spec) => {
            key.restrictions.credits = spec.as_ref().map(|c| credits(c, now)).transpose()?;
            changed.push("credits");
            true
        }
        None => false,
    };
    Ok(credits_set)
}
