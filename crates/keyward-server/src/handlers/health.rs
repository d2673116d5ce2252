//! Liveness and readiness probes.

use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can reach its database (a `503` otherwise).
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.store.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}
