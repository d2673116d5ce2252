//! Liveness and readiness probes.

use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use keyward_api::{ErrorBody, Probe};
use keyward_app::Keyward;
use serde_json::{json, Value};

/// The process is up and serving HTTP.
#[utoipa::path(
    get, operation_id = "healthz", path = "/healthz", tag = "health",
    responses((status = 200, description = "The process serves HTTP", body = Probe))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can reach its database and record events (a `503` `not_ready` that says why
/// otherwise).
#[utoipa::path(
    get, operation_id = "readyz", path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Probe),
        (status = 503, description = "Not ready; the message says why", body = ErrorBody),
    )
)]
pub async fn readyz(State(app): State<Keyward>) -> ApiResult<Json<Value>> {
    app.ready().await?;
    Ok(Json(json!({"status": "ready"})))
}
