//! Signing in with a root key (once, in a POST form; the key is never put back into a page)
//! and signing out.

use crate::error::{page, UiError, UiResult};
use crate::forms::CsrfOnly;
use crate::layout::Layout;
use crate::session::{clear_cookie, host, set_cookie, token_from, Posted};
use crate::Ui;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use keyward_app::AppError;
use keyward_core::ApiKey;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInParams {
    signed_out: Option<String>,
}

pub async fn form(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(params): Query<SignInParams>,
) -> UiResult<Response> {
    if let Some(token) = token_from(&headers) {
        if ui.app.session(&token).await?.is_some() {
            return Ok(Redirect::to("/ui/keys").into_response());
        }
    }
    page(SignInPage {
        layout: Layout::signed_out(host(&headers)),
        error: None,
        notice: params
            .signed_out
            .map(|_| "You are signed out. Close the tab if this is a shared computer."),
    })
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    root_key: String,
}

/// No `Debug` of the form: it holds a root key.
pub async fn submit(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> UiResult<Response> {
    let refused = |message: &str| -> UiResult<Response> {
        let html = SignInPage {
            layout: Layout::signed_out(host(&headers)),
            error: Some(message.to_owned()),
            notice: None,
        }
        .render()?;
        Ok((StatusCode::UNAUTHORIZED, Html(html)).into_response())
    };
    let Ok(key) = ApiKey::parse(form.root_key.trim()) else {
        return refused(
            "That is not a root key: root keys start with kw_root_. Copy it again, whole.",
        );
    };
    match ui.app.sign_in(&key).await {
        Ok(signed) => {
            let cookie = set_cookie(&ui, &headers, &signed.token);
            Ok((
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, "/ui/keys".to_owned())],
            )
                .into_response())
        }
        Err(AppError::Unauthorized) => refused(
            "This root key is not known here or was revoked. Check that this is the right server (above) and the right key.",
        ),
        Err(e) => Err(UiError::from(e)),
    }
}

pub async fn sign_out(
    State(ui): State<Ui>,
    headers: HeaderMap,
    posted: Posted<CsrfOnly>,
) -> UiResult<Response> {
    let signed = posted.signed;
    ui.app.sign_out(&signed.principal, &signed.token).await?;
    let cookie = clear_cookie(&ui, &headers);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/ui/sign-in?signed_out=1".to_owned()),
        ],
    )
        .into_response())
}
