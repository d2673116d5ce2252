//! What a server answers while it starts without its database (a database server that is
//! down or not reachable yet): alive on `/healthz`, and `503 not_ready` with the reason on
//! `/readyz` and every other call, so a load balancer keeps traffic away and a caller is told
//! to retry; nothing can be verified or changed before the keys are loaded.

use crate::error::ApiError;
use crate::handlers::health;
use crate::server::with_common_layers;
use axum::routing::get;
use axum::Router;

/// Why a starting server is not ready.
pub const WAITING_FOR_DATABASE: &str =
    "the server is starting and cannot reach its database yet; it keeps trying";

pub fn starting_router() -> Router {
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .fallback(|| async { ApiError::NotReady(WAITING_FOR_DATABASE) });
    with_common_layers(router, None)
}
