//! `POST /v1/keys/import`: keys another system issued, in batches. Each key is parsed and
//! imported on its own (`Keyward::import_key`), so one bad row refuses only itself; its
//! result says `imported` (durable, with its `key.imported` event), `skipped` (its digest is
//! already a key here: a re-run) or `refused` with the reason, in the request's order. A
//! storage failure fails the request; the keys imported before it stay, and a retry skips them.

use crate::auth::RootPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::requests;
use axum::extract::State;
use axum::Json;
use keyward_api::{
    ErrorBody, ImportKeysRequest, ImportKeysResponse, ImportResult, MAX_IMPORT_BATCH,
};
use keyward_app::rights::KeysWrite;
use keyward_app::{Imported, Keyward};

#[utoipa::path(
    post, operation_id = "import_keys", path = "/keys/import", tag = "keys", security(("root_key" = [])),
    request_body = ImportKeysRequest,
    responses(
        (status = 200, description = "One result per key, in the request's order: `imported` (durable, with its `key.imported` event), `skipped` (its digest is already a key) or `refused` with the reason", body = ImportKeysResponse),
        (status = 400, description = "More than the batch limit of keys, or a malformed body", body = ErrorBody),
    )
)]
pub async fn import(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    ApiJson(req): ApiJson<ImportKeysRequest>,
) -> ApiResult<Json<ImportKeysResponse>> {
    let caller = principal.authorize::<KeysWrite>()?;
    if req.keys.len() > MAX_IMPORT_BATCH {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_IMPORT_BATCH} keys per import request"
        )));
    }
    let mut results = Vec::with_capacity(req.keys.len());
    for key in req.keys {
        let imported = match requests::import_draft(key, app.now()) {
            Ok(draft) => app.import_key(&caller, draft).await.map_err(ApiError::from),
            Err(refused) => Err(refused),
        };
        results.push(match imported {
            Ok(Imported::New(record)) => ImportResult::Imported { id: record.id },
            Ok(Imported::Skipped) => ImportResult::Skipped,
            Err(ApiError::BadRequest(reason) | ApiError::Conflict(reason)) => {
                ImportResult::Refused { reason }
            }
            Err(other) => return Err(other),
        });
    }
    Ok(Json(ImportKeysResponse { results }))
}
