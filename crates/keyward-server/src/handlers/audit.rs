//! The audit trail over HTTP: query (newest first, cursor by `seq`), NDJSON export of the same
//! query, the chain check (optionally against a signed anchor) and signing an anchor.

use crate::anchors::Anchorer;
use crate::audit_check;
use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::views::event_view;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_api::{AuditList, ChainCheck};
use keyward_core::anchor::SignedAnchor;
use keyward_core::model::rights;
use keyward_core::{AuditFilter, EventKind, EventOutcome, Store};
use serde::Deserialize;
use std::sync::Arc;

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;
/// Events read per storage query while exporting.
const SCAN_PAGE: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    key_id: Option<String>,
    /// The event kind: `key.verified`, `key.created`, …
    kind: Option<String>,
    /// What the calling service passed to verify, e.g. `invoices.delete`.
    action: Option<String>,
    /// A verify code (`VALID`, `REVOKED`, …) or `OK`.
    outcome: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl AuditParams {
    fn filter(self) -> ApiResult<AuditFilter> {
        let kind = self
            .kind
            .map(|kind| {
                EventKind::parse(&kind).ok_or_else(|| {
                    let kinds: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    ApiError::BadRequest(format!("kind must be one of {}", kinds.join(", ")))
                })
            })
            .transpose()?;
        let outcome = self
            .outcome
            .map(|outcome| {
                EventOutcome::parse(&outcome).ok_or_else(|| {
                    ApiError::BadRequest(
                        "outcome must be OK or a verify code such as VALID or REVOKED".into(),
                    )
                })
            })
            .transpose()?;
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be 1-{MAX_PAGE}")));
        }
        let before_seq = self
            .cursor
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest("cursor is not one this server gave out".into())
                })
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

pub async fn list(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    principal.require(rights::AUDIT_READ)?;
    let mut filter = params.filter()?;
    let limit = filter.limit as usize;
    filter.limit += 1;
    let mut events = state
        .store
        .events(principal.workspace_id(), &filter)
        .await?;
    let next_cursor = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(Json(AuditList {
        events: events.into_iter().map(event_view).collect(),
        next_cursor,
    }))
}

/// The same query as [`list`], every page, one JSON event per line, newest first.
pub async fn export(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    principal.require(rights::AUDIT_READ)?;
    let mut filter = params.filter()?;
    filter.limit = SCAN_PAGE;
    let workspace_id = principal.workspace_id().to_owned();
    let store = state.store.clone();
    let pages = futures_util::stream::unfold(Some(filter), move |filter| {
        let store: Arc<dyn Store> = store.clone();
        let workspace_id = workspace_id.clone();
        async move {
            let mut filter = filter?;
            match store.events(&workspace_id, &filter).await {
                Ok(events) if events.is_empty() => None,
                Ok(events) => {
                    let next = (events.len() == SCAN_PAGE as usize).then(|| {
                        filter.before_seq = events.last().map(|e| e.seq);
                        filter
                    });
                    let mut chunk = Vec::new();
                    for e in events {
                        let line = serde_json::to_vec(&event_view(e)).unwrap_or_default();
                        chunk.extend_from_slice(&line);
                        chunk.push(b'\n');
                    }
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed mid-stream");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(pages),
    )
        .into_response())
}

/// Recomputes the workspace's chain from its checkpoint to its head and compares the stored
/// keys with the state the chain replays.
pub async fn verify_chain(
    State(state): State<AppState>,
    principal: RootPrincipal,
) -> ApiResult<Json<ChainCheck>> {
    principal.require(rights::AUDIT_READ)?;
    Ok(Json(
        audit_check::check(&state, principal.workspace_id(), None).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorCheckRequest {
    anchor: SignedAnchor,
}

/// [`verify_chain`], and proves the chain still extends `anchor`, a head this server signed.
pub async fn verify_against_anchor(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiJson(request): ApiJson<AnchorCheckRequest>,
) -> ApiResult<Json<ChainCheck>> {
    principal.require(rights::AUDIT_READ)?;
    let anchorer = anchorer(&state)?;
    let anchor = request.anchor;
    if anchor.workspace_id != principal.workspace_id() {
        return Err(ApiError::BadRequest(
            "the anchor is of another workspace".into(),
        ));
    }
    anchor
        .verify(&anchorer.public_key())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(
        audit_check::check(&state, principal.workspace_id(), Some(anchor.point())).await?,
    ))
}

/// Signs the workspace's chain head now (also appended to the anchor log).
pub async fn anchor(
    State(state): State<AppState>,
    principal: RootPrincipal,
) -> ApiResult<Json<SignedAnchor>> {
    principal.require(rights::AUDIT_READ)?;
    let anchorer = anchorer(&state)?;
    anchorer
        .sign(
            state.store.as_ref(),
            state.clock.as_ref(),
            principal.workspace_id(),
        )
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::Conflict("the audit chain has no events to anchor".into()))
}

fn anchorer(state: &AppState) -> ApiResult<&Anchorer> {
    state.anchors.as_deref().ok_or_else(|| {
        ApiError::Conflict(
            "audit anchoring is off on this server: it needs a database file or --anchor-key"
                .into(),
        )
    })
}
