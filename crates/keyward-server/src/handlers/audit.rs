//! The audit trail over HTTP: query (newest first, cursor by `seq`), NDJSON export of the same
//! query, the chain check (optionally against a signed anchor) and signing an anchor.

use crate::auth::RootPrincipal;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::views::{chain_check_view, event_view};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_api::{AuditList, ChainCheck};
use keyward_app::rights::AuditRead;
use keyward_app::{AuditQuery, Keyward};
use keyward_core::anchor::SignedAnchor;
use keyward_core::AuditFilter;
use serde::Deserialize;

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
        let query = AuditQuery {
            key_id: self.key_id,
            kind: self.kind,
            action: self.action,
            outcome: self.outcome,
            since: self.since,
            until: self.until,
            limit: self.limit,
            cursor: self.cursor,
        };
        Ok(query.filter()?)
    }
}

pub async fn list(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    let caller = principal.authorize::<AuditRead>()?;
    let page = app.events(&caller, params.filter()?).await?;
    Ok(Json(AuditList {
        events: page.events.into_iter().map(event_view).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The same query as [`list`], every page, one JSON event per line, newest first.
pub async fn export(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    let caller = principal.authorize::<AuditRead>()?;
    let pages = app.event_pages(&caller, params.filter()?);
    let chunks = futures_util::stream::unfold(Some(pages), |pages| async move {
        let mut pages = pages?;
        match pages.next().await {
            Ok(None) => None,
            Ok(Some(events)) => {
                let mut chunk = Vec::new();
                for e in events {
                    let line = serde_json::to_vec(&event_view(e)).unwrap_or_default();
                    chunk.extend_from_slice(&line);
                    chunk.push(b'\n');
                }
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), Some(pages)))
            }
            Err(e) => {
                tracing::error!(error = %e, "audit export failed mid-stream");
                Some((Err(std::io::Error::other("audit export failed")), None))
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// Recomputes the workspace's chain from its checkpoint to its head and compares the stored
/// keys with the state the chain replays.
pub async fn verify_chain(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<ChainCheck>> {
    let caller = principal.authorize::<AuditRead>()?;
    Ok(Json(chain_check_view(app.check_chain(&caller).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorCheckRequest {
    anchor: SignedAnchor,
}

/// [`verify_chain`], and proves the chain still extends `anchor`, a head this server signed.
pub async fn verify_against_anchor(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(request): ApiJson<AnchorCheckRequest>,
) -> ApiResult<Json<ChainCheck>> {
    let caller = principal.authorize::<AuditRead>()?;
    let check = app.check_chain_against(&caller, request.anchor).await?;
    Ok(Json(chain_check_view(check)))
}

/// Signs the workspace's chain head now (also appended to the anchor log).
pub async fn anchor(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<SignedAnchor>> {
    let caller = principal.authorize::<AuditRead>()?;
    Ok(Json(app.anchor(&caller).await?))
}
