//! What can go wrong talking to keyward: the server said no ([`ApiError`], with its status,
//! code, message and `Retry-After`), no answer came ([`Error::Transport`]), or the answer was
//! not what keyward sends ([`Error::Decode`], [`Error::ContentType`]). No message carries the
//! root key: URLs are shown without their credentials.

use keyward_api::{ErrorBody, ErrorCode};
use reqwest::StatusCode;
use std::fmt;
use std::time::Duration;

/// Every failure of a [`crate::Client`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL does not parse, or is not `http` or `https`.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The root key holds characters an HTTP header cannot carry (the key is not shown).
    #[error("the root key contains characters that cannot be sent in an HTTP header")]
    InvalidRootKey,
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The server answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer: the server could not be reached, did not answer in time, or the
    /// connection failed.
    #[error("{}", transport_message(url, *kind, cause))]
    Transport {
        /// The server's URL, without credentials.
        url: String,
        /// Why there was no answer.
        kind: TransportKind,
        /// The innermost cause, e.g. `Connection refused (os error 111)`.
        cause: String,
    },
    /// A success status whose body is not the JSON keyward sends.
    #[error("unexpected response from {url}: {cause} (is this a keyward server?)")]
    Decode {
        /// The server's URL, without credentials.
        url: String,
        /// What the JSON decoder said.
        cause: String,
    },
    /// A success status with another `Content-Type` than the one asked for.
    #[error("unexpected response from {url}: expected {expected}, got {received:?} (is this a keyward server?)")]
    ContentType {
        /// The server's URL, without credentials.
        url: String,
        /// The `Content-Type` asked for.
        expected: &'static str,
        /// The `Content-Type` received.
        received: String,
    },
    /// A streamed body stopped arriving: nothing came for `after`.
    #[error("keyward at {url} stopped sending for {}s; the transfer is incomplete", after.as_secs())]
    Stalled {
        /// The server's URL, without credentials.
        url: String,
        /// How long nothing came.
        after: Duration,
    },
    /// A streamed body was cut off by the server or the network before its end.
    #[error(
        "the transfer from keyward at {url} was cut off ({cause}); the transfer is incomplete"
    )]
    CutOff {
        /// The server's URL, without credentials.
        url: String,
        /// The innermost cause.
        cause: String,
    },
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The server did not answer within the client's timeout.
    Timeout,
    /// No connection could be made: the server is not running, or not at this address.
    Connect,
    /// Anything else (the connection broke, TLS failed, …).
    Other,
}

fn transport_message(url: &str, kind: TransportKind, cause: &str) -> String {
    match kind {
        TransportKind::Timeout => format!("keyward at {url} did not answer in time ({cause})"),
        TransportKind::Connect => {
            format!("cannot reach keyward at {url}: is the server running? ({cause})")
        }
        TransportKind::Other => format!("request to keyward at {url} failed: {cause}"),
    }
}

/// The innermost cause of `err`: reqwest's outer messages repeat the URL, which may carry
/// credentials.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The server answered with an error status. `code` and `message` come from keyward's error
/// body (`{"error": {"code", "message"}}`); they are `None` when the body is something else
/// (a proxy's page, say), which `body` holds as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// keyward's error code, e.g. `forbidden`.
    pub code: Option<ErrorCode>,
    /// keyward's message, for people.
    pub message: Option<String>,
    /// The server's `Retry-After` in seconds (given with `429`).
    pub retry_after: Option<Duration>,
    /// The body exactly as sent.
    pub body: String,
}

impl ApiError {
    /// The error for an answer with `status`, `Retry-After` and `body` as sent: `code` and
    /// `message` are read from the body when it is keyward's error JSON.
    pub fn new(status: StatusCode, retry_after: Option<Duration>, body: String) -> Self {
        let parsed = serde_json::from_str::<ErrorBody>(&body).ok();
        let (code, message) = match parsed {
            Some(parsed) => (Some(parsed.error.code), Some(parsed.error.message)),
            None => (None, None),
        };
        Self {
            status,
            code,
            message,
            retry_after,
            body,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keyward answered {}", self.status.as_u16())?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl Error {
    /// The server's answer, when it answered with an error status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn status(&self) -> Option<StatusCode> {
        self.api().map(|api| api.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyward_error_bodies_are_read_and_others_kept_as_sent() {
        let body = r#"{"error":{"code":"forbidden","message":"this root key lacks keys:write"}}"#;
        let error = ApiError::new(StatusCode::FORBIDDEN, None, body.into());
        assert_eq!(error.code, Some(ErrorCode::Forbidden));
        assert_eq!(
            error.to_string(),
            "keyward answered 403 forbidden: this root key lacks keys:write"
        );
        let html = ApiError::new(StatusCode::BAD_GATEWAY, None, "<html>".into());
        assert_eq!((&html.code, &html.message), (&None, &None));
        assert_eq!(html.body, "<html>");
        assert_eq!(html.to_string(), "keyward answered 502");
    }

    #[test]
    fn transport_failures_name_the_server() {
        let error = Error::Transport {
            url: "http://127.0.0.1:9".into(),
            kind: TransportKind::Connect,
            cause: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            error.to_string(),
            "cannot reach keyward at http://127.0.0.1:9: is the server running? (Connection refused (os error 111))"
        );
    }
}
