//! [`UiError`]: what a page answers when it cannot do what was asked, as a page that says
//! what to do next. Internal detail goes to the log once and never to the page; messages
//! from the core name fields, never a key.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use keyward_app::AppError;

#[derive(Debug)]
pub enum UiError {
    App(AppError),
    /// No live session: sign in (again).
    SignedOut,
    /// The form's token is not the one of the signed-in dashboard session (an old tab, or a
    /// forged post).
    StaleForm,
    /// A post from another site.
    CrossOrigin,
    /// The form could not be read at all.
    BadForm(String),
    NotFound,
    /// A template failed to render.
    Render(String),
}

impl From<AppError> for UiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unauthorized => Self::SignedOut,
            AppError::NotFound => Self::NotFound,
            other => Self::App(other),
        }
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        Self::Render(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
    next: &'a str,
    next_label: &'a str,
}

/// The status, title and message of a failure, and where to go next.
fn parts(e: &UiError) -> (StatusCode, &'static str, String) {
    match e {
        UiError::App(AppError::Invalid(m)) => (StatusCode::BAD_REQUEST, "That did not work", m.clone()),
        UiError::App(AppError::Forbidden(m)) => (StatusCode::FORBIDDEN, "Not allowed", format!("The signed-in root key may not do this: {m}.")),
        UiError::App(AppError::Conflict(m)) => (StatusCode::CONFLICT, "Not possible now", m.clone()),
        UiError::App(AppError::Unavailable(_) | AppError::NotReady(_) | AppError::Store(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Storage is not answering",
            "Nothing was changed. Try again in a moment; if this persists, the server log says why.".into(),
        ),
        UiError::NotFound | UiError::App(AppError::NotFound) => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or it belongs to another workspace.".into(),
        ),
        UiError::SignedOut | UiError::App(AppError::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Sign in again.".into(),
        ),
        UiError::App(_) | UiError::Render(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not answer this page. The server log says why.".into(),
        ),
        UiError::StaleForm => (
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The page was opened in an earlier session. Go back, reload the page and submit again.".into(),
        ),
        UiError::CrossOrigin => (
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was sent from another site, so it was refused.".into(),
        ),
        UiError::BadForm(m) => (StatusCode::BAD_REQUEST, "The form could not be read", m.clone()),
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if matches!(self, Self::SignedOut) {
            return Redirect::to("/ui/sign-in").into_response();
        }
        if let Self::App(e) = &self {
            if matches!(
                e,
                AppError::Internal(_) | AppError::Store(_) | AppError::Unavailable(_)
            ) {
                tracing::error!(error = %e, "dashboard page failed");
            }
        }
        if let Self::Render(e) = &self {
            tracing::error!(error = %e, "dashboard template failed");
        }
        let (status, title, message) = parts(&self);
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message,
            next: "/ui/keys",
            next_label: "Back to the keys",
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, [(header::CONTENT_TYPE, "text/plain")], title).into_response(),
        }
    }
}

pub async fn not_found() -> UiError {
    UiError::NotFound
}

pub type UiResult<T> = Result<T, UiError>;

/// Renders `template` as a page.
pub fn page(template: impl Template) -> UiResult<Response> {
    Ok(Html(template.render()?).into_response())
}
