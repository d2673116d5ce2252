//! What operators and tools read: the OpenAPI document (no authentication: it describes the
//! API, holds no data).

use axum::http::header;
use axum::response::IntoResponse;

#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::server::openapi_document(),
    )
}
