//! One-time handover links: made from the show-once page, opened by the person who installs
//! the key. Opening takes a POST (the link's page is a button), so a chat or mail client
//! that fetches links to preview them cannot use one up. An expired, used or unknown link
//! answers the same page.

use crate::error::{page, UiError, UiResult};
use crate::forms::{self, HandoverForm};
use crate::layout::Layout;
use crate::session::{host, secure, Posted};
use crate::views;
use crate::Ui;
use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Duration;
use keyward_app::handover::DEFAULT_LIFETIME;
use keyward_app::rights::KeysWrite;
use keyward_core::ApiKey;
use secrecy::ExposeSecret;
use std::net::SocketAddr;

#[derive(Template)]
#[template(path = "handover_created.html")]
struct CreatedPage {
    layout: Layout,
    link: String,
    expires: String,
}

pub async fn create(
    State(ui): State<Ui>,
    headers: HeaderMap,
    posted: Posted<HandoverForm>,
) -> UiResult<Response> {
    let Posted { signed, form } = posted;
    let caller = signed.principal.authorize::<KeysWrite>()?;
    let key = ApiKey::parse(form.key.trim()).map_err(|_| UiError::NotFound)?;
    let lifetime = match forms::number("hours", &form.hours)? {
        Some(hours) => Duration::hours(i64::try_from(hours).unwrap_or(i64::MAX).min(24 * 365)),
        None => DEFAULT_LIFETIME,
    };
    let link = ui
        .app
        .create_handover(&caller, &form.key_id, &key, lifetime)
        .await?;
    let scheme = if secure(&ui, &headers) {
        "https"
    } else {
        "http"
    };
    page(CreatedPage {
        layout: signed.layout.at("keys"),
        link: format!(
            "{scheme}://{}/ui/pickup/{}/{}",
            host(&headers),
            link.id,
            link.secret.expose_secret()
        ),
        expires: views::time(link.expires_at),
    })
}

#[derive(Template)]
#[template(path = "pickup.html")]
struct PickupPage {
    layout: Layout,
    /// The key, once opened; `None` on the confirmation page and for a dead link.
    key: Option<String>,
    key_name: String,
    gone: bool,
}

/// The link's page: a button that opens it. Says nothing about whether the link works.
pub async fn confirm(headers: HeaderMap) -> UiResult<Response> {
    page(PickupPage {
        layout: Layout::signed_out(host(&headers)),
        key: None,
        key_name: String::new(),
        gone: false,
    })
}

pub async fn open(
    State(ui): State<Ui>,
    headers: HeaderMap,
    extensions: Extensions,
    Path((id, secret)): Path<(String, String)>,
) -> UiResult<Response> {
    let layout = Layout::signed_out(host(&headers));
    // The client's address, when the server knows it (`serve` records every peer).
    let from = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    match ui.app.open_handover(&id, &secret, from).await? {
        Some(picked) => page(PickupPage {
            layout,
            key: Some(picked.key.expose().to_owned()),
            key_name: picked.key_name,
            gone: false,
        }),
        None => {
            let html = PickupPage {
                layout,
                key: None,
                key_name: String::new(),
                gone: true,
            }
            .render()?;
            Ok((StatusCode::NOT_FOUND, Html(html)).into_response())
        }
    }
}
