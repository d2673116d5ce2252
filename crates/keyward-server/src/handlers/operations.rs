//! What operators and tools read, without authentication: the OpenAPI document (it
//! describes the API and holds no data) and the Prometheus metrics (counts and latencies
//! labelled by closed sets only — verify codes, route templates, status classes — never a
//! key, key id, name or owner; see docs/metrics.md for restricting who reaches them).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use keyward_app::Keyward;

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[utoipa::path(
    get, operation_id = "openapi_document", path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::server::openapi_document(),
    )
}

#[utoipa::path(
    get, operation_id = "metrics", path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text); docs/metrics.md lists them", body = String, content_type = "application/openmetrics-text"))
)]
pub async fn metrics(State(app): State<Keyward>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, OPENMETRICS)], app.render_metrics())
}
