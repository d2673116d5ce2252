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
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only events about this key.
    key_id: Option<String>,
    /// The event kind: `key.verified`, `key.created`, …
    #[param(schema_with = keyward_api::AuditKind::closed_schema)]
    kind: Option<String>,
    /// What the calling service passed to verify, e.g. `invoices.delete`.
    action: Option<String>,
    /// A verify code (`VALID`, `REVOKED`, …) or `OK`.
    #[param(schema_with = outcome_schema)]
    outcome: Option<String>,
    /// Only events at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// Events per page, 1-1000 (default 100); the export checks the range but sends every
    /// event.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page: only older events.
    cursor: Option<String>,
}

/// The `outcome` filter takes `OK` or a verify code this version knows.
fn outcome_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut known = vec!["OK"];
    known.extend(keyward_api::VerifyCode::KNOWN.iter().map(|c| c.as_str()));
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(known))
        .into()
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

#[utoipa::path(
    get, operation_id = "list_audit_events", path = "/audit", tag = "audit", security(("root_key" = [])),
    params(AuditParams),
    responses((status = 200, description = "Events, newest first", body = AuditList))
)]
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
#[utoipa::path(
    get, operation_id = "export_audit_events", path = "/audit/export", tag = "audit", security(("root_key" = [])),
    params(AuditParams),
    responses((status = 200, description = "Every event the query matches, newest first: one `AuditEvent` as JSON per line", body = String, content_type = "application/x-ndjson"))
)]
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

/// `GET /v1/audit/verify`'s query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// Also start a whole re-verification from the start in the background; its progress
    /// shows in `full_check`.
    #[serde(default)]
    full: bool,
}

/// Checks the workspace's chain in bounded time: a chain of up to 300,000 events whole (and
/// the stored keys against the state it replays); a longer one from its signed verified
/// prefix, its tail now when short enough, else `status: pending` with the progress of the
/// background verification.
#[utoipa::path(
    get, operation_id = "verify_audit_chain", path = "/audit/verify", tag = "audit", security(("root_key" = [])),
    params(VerifyParams),
    responses((status = 200, description = "The chain check", body = ChainCheck))
)]
pub async fn verify_chain(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiQuery(params): ApiQuery<VerifyParams>,
) -> ApiResult<Json<ChainCheck>> {
    let caller = principal.authorize::<AuditRead>()?;
    Ok(Json(chain_check_view(
        app.check_chain(&caller, params.full).await?,
    )))
}

/// `POST /v1/audit/verify`: an anchor this server signed, as it was received.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorCheckRequest {
    #[schema(value_type = keyward_api::SignedAnchor)]
    anchor: SignedAnchor,
}

/// [`verify_chain`], and proves the chain still extends `anchor`, a head this server signed.
#[utoipa::path(
    post, operation_id = "verify_audit_chain_against_anchor", path = "/audit/verify", tag = "audit", security(("root_key" = [])),
    request_body = AnchorCheckRequest,
    responses((status = 200, description = "The chain check, and whether the chain still extends the anchor", body = ChainCheck))
)]
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
#[utoipa::path(
    post, operation_id = "sign_audit_anchor", path = "/audit/anchor", tag = "audit", security(("root_key" = [])),
    responses((status = 200, description = "The chain head, signed now", body = keyward_api::SignedAnchor))
)]
pub async fn anchor(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<SignedAnchor>> {
    let caller = principal.authorize::<AuditRead>()?;
    Ok(Json(app.anchor(&caller).await?))
}
