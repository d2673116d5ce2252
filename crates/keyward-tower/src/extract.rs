//! [`VerifiedKey`] as an axum extractor (the `axum` feature): a handler behind the layer
//! takes `key: VerifiedKey` directly.

use crate::verified::VerifiedKey;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The handler asked for a [`VerifiedKey`] on a route the layer does not protect: a mistake
/// in the service's routing, answered `500` rather than served without a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotProtected;

impl IntoResponse for NotProtected {
    fn into_response(self) -> Response {
        tracing::error!(
            "a handler takes a VerifiedKey on a route without keyward-tower's layer; refusing"
        );
        let body = serde_json::json!({
            "error": {
                "code": "internal",
                "message": "this route is not set up to check API keys",
            }
        });
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedKey {
    type Rejection = NotProtected;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedKey>()
            .cloned()
            .ok_or(NotProtected)
    }
}
