//! Verification, the hot path: look the presented key up in the in-memory index (a keyward
//! key by its checksum first, anything else only among imported keys), `decide`, then the
//! rate limit, then credits, then the audit event (durable before the answer, or counted in
//! an aggregate: `verify_audit.rs`), then usage — in that order, here and nowhere else. No
//! other storage round-trip, except for keys with usage credits (the spend, which carries the
//! event when it is recorded whatever the outcome: one durable write) and, with Redis
//! configured, keys with a rate limit (one counter increment).

use crate::enforce::{enforce, Enforced};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::fields::RequestContext;
use crate::rights::{Caller, KeysVerify};
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::advice::Sighting;
use keyward_core::credits::MAX_CREDITS;
use keyward_core::{
    decide, ApiKey, AuditDecision, KeyHash, KeyRecord, PermissionQuery, Presented,
    RateLimitDecision, VerifyCode,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// A verification request, parsed.
pub struct VerifyInput {
    /// The key as presented (a secret until parsed: its `Debug` prints nothing); a malformed
    /// one is `NOT_FOUND` without any lookup.
    pub key: SecretString,
    /// The permissions the request needs, if any.
    pub required: Option<PermissionQuery>,
    /// What the calling service says about the request (recorded in the audit event).
    pub context: RequestContext,
    /// Credits to spend: 1 unless given, at most `MAX_CREDITS` (see [`VerifyInput::cost`]).
    pub cost: u64,
}

impl VerifyInput {
    /// The credits a verification spends: 1 unless given, at most `MAX_CREDITS`.
    pub fn cost(cost: Option<u64>) -> AppResult<u64> {
        let cost = cost.unwrap_or(1);
        if cost > MAX_CREDITS {
            return Err(AppError::Invalid(format!(
                "cost is limited to {MAX_CREDITS}"
            )));
        }
        Ok(cost)
    }
}

/// What a verification found. The key's details are there only when it exists in the
/// caller's workspace.
pub struct Verification {
    pub code: VerifyCode,
    pub key: Option<Arc<KeyRecord>>,
    /// The balance after this verification, for a key with credits.
    pub credits: Option<u64>,
    /// The rate-limit window, for a rate-limited key.
    pub rate_limit: Option<RateLimitDecision>,
    /// The instant the verification was decided at.
    pub at: DateTime<Utc>,
}

impl Verification {
    pub fn valid(&self) -> bool {
        self.code == VerifyCode::Valid
    }
}

impl Keyward {
    pub async fn verify(
        &self,
        caller: &Caller<'_, KeysVerify>,
        input: VerifyInput,
    ) -> AppResult<Verification> {
        // Never an answer from an index that may miss another node's revocation.
        self.fresh()?;
        let principal = caller.principal();
        let workspace_id = principal.workspace_id();
        let VerifyInput {
            key,
            required,
            context,
            cost,
        } = input;
        // A keyward key is checked by its checksum before any lookup; any other string can
        // only be an imported key (`index.imported_key`).
        let key = match ApiKey::parse(key.expose_secret()) {
            Ok(key) => self.index.key(&KeyHash::of(key.expose())),
            Err(_) => self.index.imported_key(key.expose_secret()),
        }
        // Another workspace's key is indistinguishable from an unknown one.
        .filter(|key| key.workspace_id == workspace_id);
        let now = self.clock.now();
        // Network binding is part of `decide`; the rate limit and then credits spend
        // something, so `enforce` applies them only to a `VALID` decision.
        let presented = Presented {
            required: required.as_ref(),
            ip: context.ip.as_deref(),
            origin: context.origin.as_deref(),
        };
        let decided = decide(key.as_deref(), &presented, now);
        let level = self
            .index
            .verification_level(workspace_id, context.action());
        // Recorded whatever the outcome: a credit spend and its event are one durable write.
        let records_any_outcome = [true, false]
            .into_iter()
            .all(|valid| matches!(level.decide(valid), AuditDecision::Record));
        let record = records_any_outcome.then_some(|| {
            let context = context.clone();
            events::key_verified(principal, key.as_deref(), VerifyCode::Valid, context, now)
        });
        let Enforced {
            code,
            credits,
            rate_limit,
            recorded,
        } = enforce(self, key.as_deref(), decided, cost, now, record).await?;
        let valid = code == VerifyCode::Valid;
        // What the advice needs of a `VALID` answer, taken before the event takes the context.
        let sighting = key.as_ref().filter(|_| valid).map(|key| {
            let ip = context.ip.as_deref();
            let sighting = Sighting::new(
                now,
                ip,
                context.origin.as_deref(),
                context.user_agent(),
                required,
            );
            (key.clone(), sighting)
        });
        // Unless it went with the credit spend, the event is recorded, aggregated or skipped
        // as the workspace's level for the action says.
        if !recorded {
            self.audit_verification(principal, key.as_deref(), code, context, now)
                .await?;
        }
        // Counted only once the verification is answered (after its event is durable).
        self.metrics.verified(code);
        if let Some(key) = &key {
            self.usage.record(key, valid, now);
        }
        if let Some((key, sighting)) = sighting {
            self.observe_for_advice(&key, sighting);
        }
        Ok(Verification {
            code,
            key,
            credits,
            rate_limit,
            at: now,
        })
    }
}
