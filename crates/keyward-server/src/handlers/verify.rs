//! `POST /v1/verify`: the hot path. The request is parsed (a malformed key never reaches any
//! lookup) and handed to the core (`Keyward::verify`: index, `decide`, rate limit, credits,
//! the durable audit event, usage).

use crate::auth::RootPrincipal;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::observe::RequestNotes;
use crate::requests;
use crate::views::verify_response;
use axum::extract::State;
use axum::{Extension, Json};
use keyward_api::{VerifyRequest, VerifyResponse};
use keyward_app::rights::KeysVerify;
use keyward_app::Keyward;
use std::sync::Arc;

#[utoipa::path(
    post, operation_id = "verify_key", path = "/verify", tag = "verify", security(("root_key" = [])),
    request_body = VerifyRequest,
    responses((status = 200, description = "The decision: `valid` and its `code`", body = VerifyResponse))
)]
pub async fn verify(
    State(app): State<Keyward>,
    RootPrincipal(principal): RootPrincipal,
    notes: Option<Extension<Arc<RequestNotes>>>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    let caller = principal.authorize::<KeysVerify>()?;
    let input = requests::verify_input(req)?;
    let verification = app.verify(&caller, input).await?;
    if let (Some(Extension(notes)), Some(key)) = (notes, &verification.key) {
        notes.verified(&key.id);
    }
    Ok(Json(verify_response(verification)))
}
