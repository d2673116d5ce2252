//! Authentication, once, in an extractor: `Authorization: Bearer <root key>` becomes a typed
//! [`RootPrincipal`] (the core's `Principal`). Customer keys live in a different index, so no
//! customer key can ever authenticate here, whatever permissions it holds. Which rights a
//! call needs is checked by the core (`Principal::authorize`).

use crate::error::ApiError;
use crate::observe::RequestNotes;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use keyward_app::{Keyward, Principal};
use keyward_core::{ApiKey, KeyHash};
use std::sync::Arc;

/// The root key that made this request, checked and not revoked.
pub struct RootPrincipal(pub Principal);

impl FromRequestParts<Keyward> for RootPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Keyward) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthorized)?
            .trim();
        let key = ApiKey::parse(token).map_err(|_| ApiError::Unauthorized)?;
        let principal = app
            .authenticate(&KeyHash::of(key.expose()))
            .await
            .ok_or(ApiError::Unauthorized)?;
        if let Some(notes) = parts.extensions.get::<Arc<RequestNotes>>() {
            notes.authenticated(principal.id());
        }
        Ok(Self(principal))
    }
}
