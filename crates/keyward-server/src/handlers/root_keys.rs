//! Root keys over HTTP: create, list, revoke. What a root key may grant or revoke is the
//! core's rule (`keyward_app`, `keyward_core::root_keys`).

use crate::auth::RootPrincipal;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::requests;
use crate::views::root_key_view;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keyward_api::{CreateRootKeyRequest, CreatedRootKey, ErrorBody, RootKeyInfo};
use keyward_app::rights::RootKeysWrite;
use keyward_app::Keyward;

#[utoipa::path(
    post, operation_id = "create_root_key", path = "/root-keys", tag = "root keys", security(("root_key" = [])),
    request_body = CreateRootKeyRequest,
    responses(
        (status = 201, description = "The root key, with its plaintext `key`: the only time it is returned", body = CreatedRootKey),
        (status = 409, description = "The name is taken", body = ErrorBody),
    )
)]
pub async fn create(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(req): ApiJson<CreateRootKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedRootKey>)> {
    let caller = principal.authorize::<RootKeysWrite>()?;
    let draft = requests::root_key_draft(req)?;
    let (root, secret) = app.create_root_key(&caller, draft).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedRootKey {
            key: secret.expose().to_owned(),
            record: root_key_view(&root),
        }),
    ))
}

#[utoipa::path(
    get, operation_id = "list_root_keys", path = "/root-keys", tag = "root keys", security(("root_key" = [])),
    responses((status = 200, description = "The workspace's root keys", body = Vec<RootKeyInfo>))
)]
pub async fn list(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<Vec<RootKeyInfo>>> {
    let caller = principal.authorize::<RootKeysWrite>()?;
    let roots = app.root_keys(&caller).await?;
    Ok(Json(roots.iter().map(root_key_view).collect()))
}

#[utoipa::path(
    post, operation_id = "revoke_root_key", path = "/root-keys/{id}/revoke", tag = "root keys", security(("root_key" = [])),
    params(("id" = String, Path, description = "The root key's id")),
    responses(
        (status = 200, description = "The root key, revoked", body = RootKeyInfo),
        (status = 404, description = "No such root key in the caller's workspace", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RootKeyInfo>> {
    let caller = principal.authorize::<RootKeysWrite>()?;
    let root = app.revoke_root_key(&caller, &id).await?;
    Ok(Json(root_key_view(&root)))
}
