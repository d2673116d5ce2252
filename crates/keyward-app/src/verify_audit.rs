//! What a verification leaves in the audit trail, by the workspace's level for its action
//! (`keyward_core::audit_level`): its own event, durable before the answer (`all`, and
//! `failures` for a refusal); a count in its minute's aggregate (`aggregate.rs`); or nothing.

use crate::error::{AppError, AppResult};
use crate::events;
use crate::fields::RequestContext;
use crate::rights::Principal;
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::{AuditDecision, KeyRecord, VerifyCode};

impl Keyward {
    /// Records, aggregates or skips one verification, as the workspace's rules decide.
    pub(crate) async fn audit_verification(
        &self,
        principal: &Principal,
        key: Option<&KeyRecord>,
        code: VerifyCode,
        context: RequestContext,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let level = self
            .index
            .verification_level(principal.workspace_id(), context.action());
        match level.decide(code == VerifyCode::Valid) {
            AuditDecision::Record => {
                let event = events::key_verified(principal, key, code, context, now);
                // Fail closed: a verification that cannot be recorded is not answered.
                self.store
                    .append_events(vec![event])
                    .await
                    .map_err(|e| AppError::Unavailable(e.to_string()))
            }
            AuditDecision::Aggregate => {
                self.aggregates.add(principal, key, code, &context, now);
                Ok(())
            }
            AuditDecision::Skip => Ok(()),
        }
    }

    /// Writes the aggregated verifications of minutes that ended (every minute with
    /// `everything`, at a graceful stop) as chained events; what fails to be written is kept
    /// for the next call. Returns how many events were written.
    pub async fn flush_aggregates(&self, everything: bool) -> AppResult<usize> {
        let now = self.clock.now();
        let taken = self.aggregates.take(now, everything);
        if taken.is_empty() {
            return Ok(0);
        }
        let events = taken.events(now);
        let written = events.len();
        match self.store.append_events(events).await {
            Ok(()) => Ok(written),
            Err(e) => {
                self.aggregates.restore(taken);
                Err(AppError::Unavailable(e.to_string()))
            }
        }
    }
}
