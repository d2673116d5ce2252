//! keyward's dashboard: server-rendered pages (askama templates compiled into the binary)
//! under `/ui`, every asset embedded. Each page calls the application core (`Keyward`)
//! exactly as the HTTP API's handlers do, with a `Caller` made from the signed-in root key's
//! `Principal`; nothing here decides a domain rule.
//!
//! A root key signs in once (a POST form); the browser then holds only an opaque session
//! token in an HttpOnly, SameSite=Strict cookie scoped to `/ui`, and every form carries the
//! session's anti-forgery token. The root key never appears in a URL, a page or a log.

mod assets;
mod charts;
mod error;
mod forms;
mod layout;
mod pages;
mod security;
mod session;
mod views;

use axum::middleware::from_fn;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use keyward_app::Keyward;
use pages::{audit, handover, key_page, keys, root_keys, sign_in};

/// How the dashboard is served.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    /// Mark the session cookie `Secure` even when no TLS proxy says it served the page over
    /// TLS (`X-Forwarded-Proto: https` marks it too).
    pub secure_cookies: bool,
}

/// What every page handler holds.
#[derive(Clone)]
pub(crate) struct Ui {
    pub app: Keyward,
    pub config: UiConfig,
}

/// The dashboard's routes, to be nested under `/ui`.
pub fn router(app: Keyward, config: UiConfig) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/keys") }))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/keys", get(keys::list))
        .route("/keys/new", get(keys::new_form).post(keys::create))
        .route("/keys/{id}", get(key_page::show).post(key_page::update))
        .route("/keys/{id}/enabled", post(key_page::set_enabled))
        .route("/keys/{id}/revoke", post(key_page::revoke))
        .route("/keys/{id}/rotate", post(key_page::rotate))
        .route(
            "/keys/{id}/advice/{code}/dismiss",
            post(key_page::dismiss_advice),
        )
        .route("/handovers", post(handover::create))
        .route(
            "/pickup/{id}/{secret}",
            get(handover::confirm).post(handover::open),
        )
        .route("/audit", get(audit::list))
        .route("/audit/export", get(audit::export))
        .route("/audit/check", get(audit::check))
        .route("/root-keys", get(root_keys::list).post(root_keys::create))
        .route("/root-keys/{id}/revoke", post(root_keys::revoke))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .fallback(error::not_found)
        .layer(from_fn(security::same_origin_posts))
        .layer(from_fn(security::headers))
        .with_state(Ui { app, config })
}
