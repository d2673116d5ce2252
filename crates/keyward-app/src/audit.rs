//! The audit trail's operations: queries (newest first, cursor by `seq`), every page of a
//! query for export, the chain check (optionally against a signed anchor) and signing an
//! anchor.

use crate::anchors::Anchorer;
use crate::audit_check::ChainCheck;
use crate::error::{AppError, AppResult};
use crate::rights::{AuditRead, Caller};
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::anchor::SignedAnchor;
use keyward_core::{AuditEvent, AuditFilter, EventKind, EventOutcome};

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;
/// Events read per storage query while exporting.
const SCAN_PAGE: u32 = 1000;

/// One page of events, and the cursor of the next when there is one.
pub struct EventPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// Every page of a query, read one storage query at a time (see [`Keyward::event_pages`]).
pub struct EventPages {
    app: Keyward,
    workspace_id: String,
    filter: Option<AuditFilter>,
}

impl EventPages {
    /// The next page, newest first; `None` after the last.
    pub async fn next(&mut self) -> AppResult<Option<Vec<AuditEvent>>> {
        let Some(mut filter) = self.filter.take() else {
            return Ok(None);
        };
        let events = self.app.store.events(&self.workspace_id, &filter).await?;
        if events.is_empty() {
            return Ok(None);
        }
        if events.len() == SCAN_PAGE as usize {
            filter.before_seq = events.last().map(|e| e.seq);
            self.filter = Some(filter);
        }
        Ok(Some(events))
    }
}

/// An audit query as asked: `kind` an event kind, `outcome` `OK` or a verify code, `limit`
/// 1 to [`MAX_PAGE`] (default [`DEFAULT_PAGE`]), `cursor` a `seq` this server gave out.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub key_id: Option<String>,
    pub kind: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl AuditQuery {
    /// The store's filter, every part checked.
    pub fn filter(self) -> AppResult<AuditFilter> {
        let kind = self
            .kind
            .map(|kind| {
                EventKind::parse(&kind).ok_or_else(|| {
                    let kinds: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    AppError::Invalid(format!("kind must be one of {}", kinds.join(", ")))
                })
            })
            .transpose()?;
        let outcome = self
            .outcome
            .map(|outcome| {
                EventOutcome::parse(&outcome).ok_or_else(|| {
                    AppError::Invalid(
                        "outcome must be OK or a verify code such as VALID or REVOKED".into(),
                    )
                })
            })
            .transpose()?;
        let limit = crate::fields::page_limit(self.limit, DEFAULT_PAGE, MAX_PAGE)?;
        let before_seq = self
            .cursor
            .map(|c| {
                c.parse::<i64>()
                    .map_err(|_| AppError::invalid(crate::fields::BAD_CURSOR))
            })
            .transpose()?;
        Ok(AuditFilter {
            key_id: self.key_id,
            kind,
            action: self.action,
            outcome,
            since: self.since,
            until: self.until,
            before_seq,
            limit,
        })
    }
}

impl Keyward {
    /// One page of the workspace's events matching `filter`, newest first.
    pub async fn events(
        &self,
        caller: &Caller<'_, AuditRead>,
        mut filter: AuditFilter,
    ) -> AppResult<EventPage> {
        let limit = filter.limit as usize;
        filter.limit += 1;
        let mut events = self.store.events(caller.workspace_id(), &filter).await?;
        let next_cursor = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(EventPage {
            events,
            next_cursor,
        })
    }

    /// Every event matching `filter` (its limit and cursor aside), newest first, in pages.
    pub fn event_pages(
        &self,
        caller: &Caller<'_, AuditRead>,
        mut filter: AuditFilter,
    ) -> EventPages {
        filter.limit = SCAN_PAGE;
        EventPages {
            app: self.clone(),
            workspace_id: caller.workspace_id().to_owned(),
            filter: Some(filter),
        }
    }

    /// The chain check in bounded time (`chain_answer.rs`): a short chain whole, records and
    /// all; a long one from its verified prefix, or `pending` with the background's
    /// progress. `full` also starts a whole re-verification in the background.
    pub async fn check_chain(
        &self,
        caller: &Caller<'_, AuditRead>,
        full: bool,
    ) -> AppResult<ChainCheck> {
        Ok(crate::chain_answer::answer(self, caller.workspace_id(), full).await?)
    }

    /// [`Keyward::check_chain`], and proves the chain still extends `anchor`, a head this
    /// server signed.
    pub async fn check_chain_against(
        &self,
        caller: &Caller<'_, AuditRead>,
        anchor: SignedAnchor,
    ) -> AppResult<ChainCheck> {
        let anchorer = self.anchorer()?;
        if anchor.workspace_id != caller.workspace_id() {
            return Err(AppError::Invalid(
                "the anchor is of another workspace".into(),
            ));
        }
        anchor
            .verify(&anchorer.public_key())
            .map_err(AppError::invalid)?;
        Ok(crate::anchor_check::check(self, caller.workspace_id(), anchor.point()).await?)
    }

    /// Signs the workspace's chain head now (also appended to the anchor log).
    pub async fn anchor(&self, caller: &Caller<'_, AuditRead>) -> AppResult<SignedAnchor> {
        let anchorer = self.anchorer()?;
        anchorer
            .sign(
                self.store.as_ref(),
                self.clock.as_ref(),
                caller.workspace_id(),
            )
            .await?
            .ok_or_else(|| AppError::Conflict("the audit chain has no events to anchor".into()))
    }

    fn anchorer(&self) -> AppResult<&Anchorer> {
        self.anchors.as_deref().ok_or_else(|| {
            AppError::Conflict(
                "audit anchoring is off on this server: it needs a database file or --anchor-key"
                    .into(),
            )
        })
    }
}
