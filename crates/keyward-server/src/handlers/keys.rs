//! The key lifecycle over HTTP: create, list, show, update, revoke, rotate. Each handler
//! authorizes, parses the request (`requests.rs`), calls the core and maps the answer.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::requests;
use crate::views::key_view;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use keyward_api::{
    CreateKeyRequest, CreatedKey, Key, KeyList, RevokeKeyRequest, RotateKeyRequest,
    UpdateKeyRequest,
};
use keyward_app::rights::{KeysRead, KeysWrite};
use keyward_app::{Issued, KeyChange, KeyQuery, Keyward};
use keyward_core::KeyStatus;
use serde::Deserialize;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    owner_id: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

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

pub async fn show(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Key>> {
    let caller = principal.authorize::<KeysRead>()?;
    let key = app.key(&caller, &id).await?;
    Ok(Json(key_view(&key, app.usage(), app.now())))
}

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
