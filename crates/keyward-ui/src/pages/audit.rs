//! The audit page: the trail with filters (key, kind, action, outcome, time), links from
//! events to keys, the chain's integrity check, and an export of what the filters select.

use crate::error::{page, UiResult};
use crate::layout::Layout;
use crate::session::Signed;
use crate::Ui;
use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use keyward_app::rights::AuditRead;
use keyward_app::{AppError, AuditQuery, ChainCheck};
use keyward_core::{AuditFilter, EventKind};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditParams {
    pub key_id: String,
    pub kind: String,
    pub action: String,
    pub outcome: String,
    /// `datetime-local` values, UTC.
    pub since: String,
    pub until: String,
    pub cursor: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn time(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(text) = some(text) else {
        return Ok(None);
    };
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M")
        .map(|t| Some(t.and_utc()))
        .map_err(|_| {
            AppError::Invalid(format!(
                "{field} must be a date and time such as 2030-01-31T12:00"
            ))
        })
}

impl AuditParams {
    fn filter(&self) -> Result<AuditFilter, AppError> {
        AuditQuery {
            key_id: some(&self.key_id),
            kind: some(&self.kind),
            action: some(&self.action),
            outcome: some(&self.outcome),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            limit: Some(50),
            cursor: some(&self.cursor),
        }
        .filter()
    }

    /// The query string of these filters with another cursor (none for the export).
    fn query_string(&self, cursor: &str) -> String {
        let pairs = [
            ("key_id", &self.key_id),
            ("kind", &self.kind),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let mut parts: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", crate::views::query_value(v)))
            .collect();
        if !cursor.is_empty() {
            parts.push(format!("cursor={}", crate::views::query_value(cursor)));
        }
        parts.join("&")
    }
}

pub struct Row {
    pub seq: i64,
    pub time: String,
    pub kind: String,
    pub actor: String,
    pub key_id: Option<String>,
    pub key_name: String,
    pub action: String,
    pub outcome: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    params: AuditParams,
    kinds: Vec<&'static str>,
    rows: Vec<Row>,
    error: Option<String>,
    next_url: Option<String>,
    export_url: String,
}

pub async fn list(
    State(ui): State<Ui>,
    signed: Signed,
    Query(params): Query<AuditParams>,
) -> UiResult<Response> {
    let caller = signed.principal.authorize::<AuditRead>()?;
    let mut rows = Vec::new();
    let mut error = None;
    let mut next_url = None;
    match params.filter() {
        Err(e) => error = Some(e.to_string()),
        Ok(filter) => match ui.app.events(&caller, filter).await {
            Ok(page) => {
                next_url = page
                    .next_cursor
                    .map(|c| format!("/ui/audit?{}", params.query_string(&c)));
                rows = page
                    .events
                    .iter()
                    .map(|e| {
                        let ev = &e.event;
                        Row {
                            seq: e.seq,
                            time: ev.time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                            kind: ev.kind.clone(),
                            actor: ev
                                .actor_name
                                .clone()
                                .or_else(|| ev.actor_id.clone())
                                .unwrap_or_else(|| "—".into()),
                            key_id: ev.key_id.clone(),
                            key_name: ev.key_name.clone().unwrap_or_default(),
                            action: ev.action.clone().unwrap_or_default(),
                            outcome: ev.outcome.clone(),
                            ip: ev.ip.clone().unwrap_or_default(),
                            detail: ev.detail.clone().unwrap_or_default(),
                        }
                    })
                    .collect();
            }
            Err(AppError::Invalid(m)) => error = Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "reading the audit trail for the dashboard failed");
                error = Some(
                    "The audit trail could not be read just now. Reload the page in a moment."
                        .into(),
                );
            }
        },
    }
    let export_url = format!("/ui/audit/export?{}", params.query_string(""));
    page(AuditPage {
        layout: signed.layout.at("audit"),
        kinds: EventKind::ALL.iter().map(|k| k.as_str()).collect(),
        params,
        rows,
        error,
        next_url,
        export_url,
    })
}

/// Every event the filters select, newest first, one JSON object a line (as the API's
/// export), streamed a storage page at a time.
pub async fn export(
    State(ui): State<Ui>,
    signed: Signed,
    Query(params): Query<AuditParams>,
) -> UiResult<Response> {
    let caller = signed.principal.authorize::<AuditRead>()?;
    let pages = ui.app.event_pages(&caller, params.filter()?);
    let chunks = futures_util::stream::unfold(Some(pages), |pages| async move {
        let mut pages = pages?;
        match pages.next().await {
            Ok(None) => None,
            Ok(Some(events)) => {
                let mut chunk = Vec::new();
                for e in events {
                    if let Ok(line) = serde_json::to_vec(&e) {
                        chunk.extend_from_slice(&line);
                        chunk.push(b'\n');
                    }
                }
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), Some(pages)))
            }
            Err(e) => {
                tracing::error!(error = %e, "dashboard audit export failed mid-stream");
                Some((Err(std::io::Error::other("audit export failed")), None))
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keyward-audit.ndjson\"",
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "audit_check.html")]
struct CheckPage {
    layout: Layout,
    check: ChainCheck,
}

/// Recomputes the chain now and shows whether it is whole.
pub async fn check(State(ui): State<Ui>, signed: Signed) -> UiResult<Response> {
    let caller = signed.principal.authorize::<AuditRead>()?;
    let check = ui.app.check_chain(&caller, false).await?;
    page(CheckPage {
        layout: signed.layout.at("audit"),
        check,
    })
}
