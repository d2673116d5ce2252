//! The key lifecycle over HTTP: create, list, show, update, revoke, rotate. Each handler
//! authorizes, parses the request (`requests.rs`), calls the core and maps the answer.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::requests;
use crate::views::{advice_item_view, key_view};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keyward_api::{
    CreateKeyRequest, CreatedKey, ErrorBody, Key, KeyList, RevokeKeyRequest, RotateKeyRequest,
    UpdateKeyRequest,
};
use keyward_app::rights::{KeysRead, KeysWrite};
use keyward_app::{Issued, KeyChange, KeyQuery, Keyward};
use keyward_core::KeyStatus;
use serde::Deserialize;
use utoipa::IntoParams;

#[utoipa::path(
    post, operation_id = "create_key", path = "/keys", tag = "keys", security(("root_key" = [])),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "The key, with its plaintext `key`: the only time it is returned", body = CreatedKey),
        (status = 409, description = "A live key of the workspace already has this name", body = ErrorBody),
    )
)]
pub async fn create(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let caller = principal.authorize::<KeysWrite>()?;
    let draft = requests::key_draft(req, app.now())?;
    let issued = app.create_key(&caller, draft).await?;
    Ok((StatusCode::CREATED, Json(created(&app, issued))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only keys of this owner.
    owner_id: Option<String>,
    /// Only keys with this status.
    #[param(schema_with = keyward_api::KeyStatus::closed_schema)]
    status: Option<String>,
    /// Keys per page, 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get, operation_id = "list_keys", path = "/keys", tag = "keys", security(("root_key" = [])),
    params(ListParams),
    responses((status = 200, description = "Keys, newest first", body = KeyList))
)]
pub async fn list(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<KeyList>> {
    let caller = principal.authorize::<KeysRead>()?;
    let status = params
        .status
        .map(|s| {
            KeyStatus::parse(&s).ok_or_else(|| {
                ApiError::BadRequest(
                    "status must be one of active, disabled, expired, revoked".into(),
                )
            })
        })
        .transpose()?;
    let query = KeyQuery::new(params.owner_id, status, params.limit, params.cursor)?;
    let page = app.list_keys(&caller, query).await?;
    Ok(Json(KeyList {
        keys: page
            .keys
            .iter()
            .map(|k| key_view(k, app.usage(), page.at))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(
    get, operation_id = "show_key", path = "/keys/{id}", tag = "keys", security(("root_key" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key", body = Key),
        (status = 404, description = "No such key in the caller's workspace", body = ErrorBody),
    )
)]
pub async fn show(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Key>> {
    let caller = principal.authorize::<KeysRead>()?;
    let key = app.key(&caller, &id).await?;
    let advice = app.key_advice(&caller, &id).await?;
    let mut view = key_view(&key, app.usage(), app.now());
    view.advice = Some(advice.iter().map(advice_item_view).collect());
    Ok(Json(view))
}

#[utoipa::path(
    patch, operation_id = "update_key", path = "/keys/{id}", tag = "keys", security(("root_key" = [])),
    params(("id" = String, Path, description = "The key's id")),
    request_body = UpdateKeyRequest,
    responses(
        (status = 200, description = "The key as updated", body = Key),
        (status = 404, description = "No such key in the caller's workspace", body = ErrorBody),
        (status = 409, description = "The name is taken, or the key was rotated", body = ErrorBody),
    )
)]
pub async fn update(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateKeyRequest>,
) -> ApiResult<Json<Key>> {
    let caller = principal.authorize::<KeysWrite>()?;
    let patch = requests::key_patch(req, app.now())?;
    let KeyChange { key, at } = app.update_key(&caller, &id, patch).await?;
    Ok(Json(key_view(&key, app.usage(), at)))
}

#[utoipa::path(
    post, operation_id = "revoke_key", path = "/keys/{id}/revoke", tag = "keys", security(("root_key" = [])),
    params(("id" = String, Path, description = "The key's id")),
    request_body = RevokeKeyRequest,
    responses(
        (status = 200, description = "The key, revoked (revoking twice is harmless)", body = Key),
        (status = 404, description = "No such key in the caller's workspace", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeKeyRequest>,
) -> ApiResult<Json<Key>> {
    let caller = principal.authorize::<KeysWrite>()?;
    let reason = requests::revocation_reason(req.reason)?;
    let KeyChange { key, at } = app.revoke_key(&caller, &id, reason).await?;
    Ok(Json(key_view(&key, app.usage(), at)))
}

#[utoipa::path(
    post, operation_id = "rotate_key", path = "/keys/{id}/rotate", tag = "keys", security(("root_key" = [])),
    params(("id" = String, Path, description = "The key's id")),
    request_body = RotateKeyRequest,
    responses(
        (status = 201, description = "The new key, with its plaintext `key`", body = CreatedKey),
        (status = 404, description = "No such key in the caller's workspace", body = ErrorBody),
        (status = 409, description = "The key is revoked or already rotated", body = ErrorBody),
    )
)]
pub async fn rotate(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RotateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let caller = principal.authorize::<KeysWrite>()?;
    let issued = app
        .rotate_key(&caller, &id, req.grace_period_seconds)
        .await?;
    Ok((StatusCode::CREATED, Json(created(&app, issued))))
}

/// A new key's answer: the secret, shown this once, and the record.
fn created(app: &Keyward, issued: Issued) -> CreatedKey {
    CreatedKey {
        key: issued.secret.expose().to_owned(),
        record: key_view(&issued.key, app.usage(), issued.at),
    }
}
