//! The safety advice: `GET /v1/advice` (the workspace's list, worst first, `keys:read`),
//! `POST /v1/keys/{id}/advice/{code}/dismiss` (`keys:write`) and `GET`/`PUT
//! /v1/advice/settings` (changing them needs `policy:write`). A key's own items are on
//! `GET /v1/keys/{id}`.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::views::{advice_item_view, advice_settings_view};
use axum::extract::State;
use axum::Json;
use keyward_api::advice::{AdviceDismissal, AdviceList, AdviceSettings, KeyAdviceItem};
use keyward_app::rights::{KeysRead, KeysWrite, PolicyWrite};
use keyward_app::Keyward;
use keyward_core::advice::{self as rules, AdviceCode, AdviceCursor, Severity};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdviceParams {
    /// Items per page, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn cursor_text(c: &AdviceCursor) -> String {
    format!("{}.{}.{}", c.severity.rank(), c.code.as_str(), c.key_id)
}

fn parse_cursor(text: &str) -> Result<AdviceCursor, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not a next_cursor of this list".into());
    let mut parts = text.splitn(3, '.');
    let severity = parts
        .next()
        .and_then(|r| r.parse().ok())
        .and_then(Severity::from_rank)
        .ok_or_else(bad)?;
    let code = parts.next().and_then(AdviceCode::parse).ok_or_else(bad)?;
    let key_id = parts.next().filter(|k| !k.is_empty()).ok_or_else(bad)?;
    Ok(AdviceCursor {
        severity,
        key_id: key_id.to_owned(),
        code,
    })
}

#[utoipa::path(
    get, operation_id = "list_advice", path = "/advice", tag = "advice", security(("root_key" = [])),
    params(AdviceParams),
    responses((status = 200, description = "The workspace's safety advice, worst first", body = AdviceList))
)]
pub async fn list(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiQuery(params): ApiQuery<AdviceParams>,
) -> ApiResult<Json<AdviceList>> {
    let caller = principal.authorize::<KeysRead>()?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-1000".into()));
    }
    let after = params.cursor.as_deref().map(parse_cursor).transpose()?;
    let page = app.workspace_advice(&caller, after.as_ref(), limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last())
        .flatten()
        .map(|last| {
            cursor_text(&AdviceCursor {
                severity: last.item.severity,
                key_id: last.key_id.clone(),
                code: last.item.code,
            })
        });
    Ok(Json(AdviceList {
        items: page
            .iter()
            .map(|a| KeyAdviceItem {
                key_id: a.key_id.clone(),
                key_name: a.key_name.clone(),
                item: advice_item_view(&a.item),
            })
            .collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    post, operation_id = "dismiss_advice", path = "/keys/{id}/advice/{code}/dismiss", tag = "advice",
    security(("root_key" = [])),
    params(("id" = String, Path, description = "The key's id"), ("code" = String, Path, description = "The item's code")),
    responses(
        (status = 200, description = "Dismissed until its evidence changes", body = AdviceDismissal),
        (status = 404, description = "No such key in the caller's workspace", body = keyward_api::ErrorBody),
        (status = 409, description = "The key has no such item now", body = keyward_api::ErrorBody),
    )
)]
pub async fn dismiss(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiPath((id, code)): ApiPath<(String, String)>,
) -> ApiResult<Json<AdviceDismissal>> {
    let caller = principal.authorize::<KeysWrite>()?;
    let code = AdviceCode::parse(&code).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "code must be one of {}",
            AdviceCode::ALL.map(|c| c.as_str()).join(", ")
        ))
    })?;
    let d = app.dismiss_advice(&caller, &id, code).await?;
    Ok(Json(AdviceDismissal {
        key_id: d.key_id,
        code: crate::views::advice_code_view(d.code),
        dismissed_by: d.dismissed_by,
        dismissed_at: d.dismissed_at,
    }))
}

#[utoipa::path(
    get, operation_id = "show_advice_settings", path = "/advice/settings", tag = "advice", security(("root_key" = [])),
    responses((status = 200, description = "The workspace's advice settings", body = AdviceSettings))
)]
pub async fn show_settings(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
) -> ApiResult<Json<AdviceSettings>> {
    let caller = principal.authorize::<KeysRead>()?;
    Ok(Json(advice_settings_view(
        &app.advice_settings(&caller).await?,
    )))
}

#[utoipa::path(
    put, operation_id = "set_advice_settings", path = "/advice/settings", tag = "advice", security(("root_key" = [])),
    request_body = AdviceSettings,
    responses((status = 200, description = "The settings as set", body = AdviceSettings))
)]
pub async fn update_settings(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(req): ApiJson<AdviceSettings>,
) -> ApiResult<Json<AdviceSettings>> {
    let caller = principal.authorize::<PolicyWrite>()?;
    let d = rules::AdviceSettings::default();
    let settings = rules::AdviceSettings {
        shared_window_days: req.shared_window_days.unwrap_or(d.shared_window_days),
        shared_max_networks: req.shared_max_networks.unwrap_or(d.shared_max_networks),
        shared_max_origins: req.shared_max_origins.unwrap_or(d.shared_max_origins),
        shared_max_user_agents: req
            .shared_max_user_agents
            .unwrap_or(d.shared_max_user_agents),
        unused_permission_days: req
            .unused_permission_days
            .unwrap_or(d.unused_permission_days),
        stale_days: req.stale_days.unwrap_or(d.stale_days),
        auto_disable_days: req.auto_disable_days,
        recommend_expiry: req.recommend_expiry.unwrap_or(d.recommend_expiry),
        expiring_soon_days: req.expiring_soon_days.unwrap_or(d.expiring_soon_days),
        generic_names: req.generic_names.unwrap_or(d.generic_names),
    };
    Ok(Json(advice_settings_view(
        &app.set_advice_settings(&caller, settings).await?,
    )))
}
