//! Authentication, once, in an extractor: `Authorization: Bearer <root key>` becomes a typed
//! [`RootPrincipal`]. Customer keys live in a different index, so no customer key can ever
//! authenticate here, whatever permissions it holds.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use keyward_core::{ApiKey, KeyHash, Permission, RootKey};
use std::sync::Arc;

/// The root key that made this request, checked and not revoked.
pub struct RootPrincipal(pub Arc<RootKey>);

impl RootPrincipal {
    pub fn workspace_id(&self) -> &str {
        &self.0.workspace_id
    }

    /// `403` unless this root key holds `right` (e.g. `keys:write`).
    pub fn require(&self, right: &str) -> Result<(), ApiError> {
        let needed = Permission::parse(right).map_err(|e| ApiError::Internal(e.to_string()))?;
        if Permission::any_grants(&self.0.permissions, &needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this root key lacks the right {right:?}"
            )))
        }
    }
}

impl FromRequestParts<AppState> for RootPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
        let root = state
            .root_key(&KeyHash::of(key.expose()))
            .await
            .ok_or(ApiError::Unauthorized)?;
        if root.revoked_at.is_some() {
            return Err(ApiError::Unauthorized);
        }
        Ok(Self(root))
    }
}
