//! One error type for every handler, one status `match`, one stable JSON body:
//! `{"error": {"code": "...", "message": "..."}}`. Internal detail is logged once here and
//! never sent to the client, and no message leaves with a key-shaped word in it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyward_api::{ErrorBody, ErrorDetail};
use keyward_app::AppError;
use keyward_core::redact::{redact, Redaction};
use keyward_core::StoreError;
use std::borrow::Cow;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    NotFound,
    Conflict(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    /// The request, or its body, took too long.
    RequestTimeout,
    /// The request head is larger than the server reads.
    HeadersTooLarge,
    UriTooLong,
    /// The client's address holds its share of connections, all of them busy.
    TooManyConnections,
    /// Storage could not be written or read; the client is told to retry.
    Unavailable(String),
    /// Not serving now, for the reason given (a fixed phrase, safe to send).
    NotReady(&'static str),
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a valid root key as 'Authorization: Bearer <root key>'".into(),
            ),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource".into(),
            ),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request bodies are limited to 64 KiB".into(),
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'".into(),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not accept that method".into(),
            ),
            Self::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request or its body did not arrive in time".into(),
            ),
            Self::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "the request headers are too large".into(),
            ),
            Self::UriTooLong => (
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "the request URI is too long".into(),
            ),
            Self::TooManyConnections => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                "this address has too many connections open; reuse one, or try again".into(),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage is unavailable; nothing was changed, try again".into(),
            ),
            Self::NotReady(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                format!("not ready: {reason}; nothing was changed, try again"),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; nothing secret was exposed, see the server log".into(),
            ),
        }
    }
}

impl ApiError {
    /// The status and JSON body, for answers written below axum (the connection layer).
    pub fn status_and_body(&self) -> (StatusCode, Vec<u8>) {
        let (status, code, message) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
            },
        };
        (status, serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NameTaken => Self::Conflict(
                "a live key in this workspace already has that name; names tell keys apart, so choose another".into(),
            ),
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Corrupt(m) | StoreError::Refused(m) => Self::Internal(m),
        }
    }
}

/// The core's errors as HTTP answers: the one place that decides each one's status.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(m) => Self::BadRequest(m),
            AppError::Unauthorized => Self::Unauthorized,
            AppError::Forbidden(m) => Self::Forbidden(m),
            AppError::NotFound => Self::NotFound,
            AppError::Conflict(m) => Self::Conflict(m),
            AppError::Unavailable(m) => Self::Unavailable(m),
            AppError::NotReady(reason) => Self::NotReady(reason),
            AppError::Store(e) => e.into(),
            AppError::Internal(m) => Self::Internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        match &self {
            Self::Unavailable(detail) => tracing::error!(%detail, "storage unavailable"),
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: without_keys(message),
            },
        };
        (status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The last line of defence for every error body: a message may quote what the client sent
/// (serde's messages, a field's position), and no word shaped like a key leaves in it —
/// keys as their `start…`, look-alikes as `prefix_…` (a key with a typo is still most of a
/// secret).
fn without_keys(message: String) -> String {
    let redacted = match redact(&message, Redaction::KeyShaped) {
        Cow::Owned(redacted) => Some(redacted),
        Cow::Borrowed(_) => None,
    };
    redacted.unwrap_or(message)
}
