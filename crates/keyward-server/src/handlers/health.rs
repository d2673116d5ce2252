//! Liveness and readiness probes.

use crate::error::ApiResult;
use axum::extract::State;
use axum::Json;
use keyward_app::Keyward;
use serde_json::{json, Value};

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can reach its database and record events (a `503` `not_ready` that says why
/// otherwise).
pub async fn readyz(State(app): State<Keyward>) -> ApiResult<Json<Value>> {
    app.ready().await?;
    Ok(Json(json!({"status": "ready"})))
}
