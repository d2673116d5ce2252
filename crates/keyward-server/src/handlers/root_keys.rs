//! Root keys: workspace administrators' credentials, each with its own rights. A root key can
//! only hand out rights it holds itself, so a limited key cannot mint an unlimited one, and
//! only revoke root keys whose rights it holds entirely (`keyward_core::root_keys`), so a
//! limited key cannot lock the workspace's owners out.

use crate::auth::RootPrincipal;
use crate::bootstrap::new_root_key;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::handlers::fields;
use crate::state::AppState;
use crate::views::root_key_view;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keyward_api::{CreateRootKeyRequest, CreatedRootKey, RootKeyInfo};
use keyward_core::audit::EventKind;
use keyward_core::model::rights;
use keyward_core::root_keys::check_revocation;
use keyward_core::{ids, KeyName, NewEvent, Permission, RootKey};

/// Every right a root key can hold (also what `keyward root-key create` accepts).
pub const KNOWN_RIGHTS: [&str; 8] = [
    "*",
    rights::KEYS_READ,
    rights::KEYS_WRITE,
    rights::KEYS_VERIFY,
    rights::AUDIT_READ,
    rights::ROOT_KEYS_WRITE,
    rights::WORKSPACE_WRITE,
    rights::POLICY_WRITE,
];

pub async fn create(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiJson(req): ApiJson<CreateRootKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedRootKey>)> {
    principal.require(rights::ROOT_KEYS_WRITE)?;
    let name = KeyName::parse(&req.name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let permissions = fields::permissions(&req.permissions)?;
    if permissions.is_empty() {
        return Err(ApiError::BadRequest(
            "a root key needs at least one right".into(),
        ));
    }
    for p in &permissions {
        if !KNOWN_RIGHTS.contains(&p.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown right {:?}; rights are {}",
                p.as_str(),
                KNOWN_RIGHTS.join(", ")
            )));
        }
        if !Permission::any_grants(&principal.0.permissions, p) {
            return Err(ApiError::Forbidden(format!(
                "a root key cannot grant {:?}, which it does not hold",
                p.as_str()
            )));
        }
    }
    let now = state.clock.now();
    let (root, secret) = new_root_key(principal.workspace_id(), name.as_str(), permissions, now)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let event = NewEvent::new(principal.workspace_id(), now, EventKind::RootKeyCreated)
        .actor(&principal.0.id, &principal.0.name)
        .detail(format!("root key {} ({})", root.id, root.name));
    let _guard = state.writes.lock().await;
    state.store.insert_root_key(&root, event).await?;
    state.index.put_root_key(root.clone());
    Ok((
        StatusCode::CREATED,
        Json(CreatedRootKey {
            key: secret.expose().to_owned(),
            record: root_key_view(&root),
        }),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    principal: RootPrincipal,
) -> ApiResult<Json<Vec<RootKeyInfo>>> {
    principal.require(rights::ROOT_KEYS_WRITE)?;
    let roots = state.store.root_keys().await?;
    Ok(Json(
        roots
            .iter()
            .filter(|r| r.workspace_id == principal.workspace_id())
            .map(root_key_view)
            .collect(),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    principal: RootPrincipal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RootKeyInfo>> {
    principal.require(rights::ROOT_KEYS_WRITE)?;
    if !ids::is_well_formed(ids::ROOT_KEY, &id) {
        return Err(ApiError::NotFound);
    }
    let now = state.clock.now();
    let _guard = state.writes.lock().await;
    // Read under the write lock: the rules below judge the workspace's root keys as they are
    // now, not as they were when this request authenticated.
    let workspace: Vec<RootKey> = state
        .store
        .root_keys()
        .await?
        .into_iter()
        .filter(|r| r.workspace_id == principal.workspace_id())
        .collect();
    // The revoker may have been revoked since it authenticated (by a concurrent call).
    let revoker = workspace
        .iter()
        .find(|r| r.id == principal.0.id && r.revoked_at.is_none())
        .ok_or(ApiError::Unauthorized)?;
    let mut root = workspace
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or(ApiError::NotFound)?;
    check_revocation(revoker, &root, &workspace).map_err(|e| ApiError::Forbidden(e.to_string()))?;
    if root.revoked_at.is_none() {
        root.revoked_at = Some(now);
        let event = NewEvent::new(principal.workspace_id(), now, EventKind::RootKeyRevoked)
            .actor(&principal.0.id, &principal.0.name)
            .detail(format!("root key {} ({})", root.id, root.name));
        state.store.update_root_key(&root, event).await?;
        state.index.put_root_key(root.clone());
    }
    Ok(Json(root_key_view(&root)))
}
