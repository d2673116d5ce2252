//! The session cookie and the extractors that need it: [`Signed`] (a live session, or a
//! redirect to sign-in) and [`Posted`] (a signed-in form post whose anti-forgery token
//! matches, compared in constant time).

use crate::error::UiError;
use crate::layout::Layout;
use crate::Ui;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use cookie::{Cookie, SameSite};
use keyward_app::dashboard::{csrf_matches, csrf_token, SessionToken, SESSION_LIFETIME};
use keyward_app::Principal;
use serde::de::DeserializeOwned;

/// The session cookie's name; scoped to `/ui`, so the API never sees it.
pub const COOKIE: &str = "kw_session";

/// The session token the browser sent, if any.
pub fn token_from(headers: &HeaderMap) -> Option<SessionToken> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE && !c.value().is_empty())
        .map(|c| SessionToken::from_cookie(c.value()))
}

/// Whether the page was served over TLS, as far as the operator or a TLS proxy says.
pub fn secure(ui: &Ui, headers: &HeaderMap) -> bool {
    ui.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The `Set-Cookie` value that hands `token` to the browser.
pub fn set_cookie(ui: &Ui, headers: &HeaderMap, token: &SessionToken) -> String {
    Cookie::build((COOKIE, token.expose().to_owned()))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(ui, headers))
        .max_age(cookie::time::Duration::seconds(
            SESSION_LIFETIME.num_seconds(),
        ))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear_cookie(ui: &Ui, headers: &HeaderMap) -> String {
    Cookie::build((COOKIE, ""))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(ui, headers))
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The host the browser asked for (what its address bar shows).
pub fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("unknown host")
        .to_owned()
}

/// A signed-in request: the root key's principal, its session token, and the page layout
/// (whose server, who is signed in, the form token).
pub struct Signed {
    pub principal: Principal,
    pub token: SessionToken,
    pub layout: Layout,
}

impl FromRequestParts<Ui> for Signed {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, UiError> {
        let token = token_from(&parts.headers).ok_or(UiError::SignedOut)?;
        let principal = ui.app.session(&token).await?.ok_or(UiError::SignedOut)?;
        let workspace = ui.app.own_workspace(&principal).await?;
        let layout = Layout::signed_in(
            &workspace,
            &principal,
            host(&parts.headers),
            csrf_token(&token),
        );
        Ok(Self {
            principal,
            token,
            layout,
        })
    }
}

/// A form that carries the session's anti-forgery token.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// A signed-in form post whose anti-forgery token matches the session's.
pub struct Posted<T> {
    pub signed: Signed,
    pub form: T,
}

impl<T> FromRequest<Ui> for Posted<T>
where
    T: DeserializeOwned + WithCsrf + Send,
{
    type Rejection = UiError;

    async fn from_request(req: Request, ui: &Ui) -> Result<Self, UiError> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, ui).await?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, ui)
            .await
            .map_err(|e| UiError::BadForm(e.body_text()))?;
        if !csrf_matches(&signed.token, form.csrf()) {
            return Err(UiError::StaleForm);
        }
        Ok(Self { signed, form })
    }
}

/// Implements [`WithCsrf`] for forms whose token field is `csrf`.
macro_rules! with_csrf {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::session::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use with_csrf;
