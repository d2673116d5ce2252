//! The gateway's own answers (every request it does not forward, and upstream failures), as
//! keyward's API writes errors: `{"error": {"code", "message"}}` with the matching status,
//! `WWW-Authenticate` on `401` and `Retry-After` on a rate-limited `429`. Messages are fixed
//! phrases: never the key, the path or an upstream's error text.

use crate::body::GatewayBody;
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use keyward_core::VerifyCode;

/// Why a request was not forwarded, or the upstream did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoRoute,
    MissingKey,
    /// The key was refused; the verify code says why.
    Key(VerifyCode),
    /// Rate limited: retry after this many seconds.
    RateLimited {
        retry_after_secs: u64,
    },
    UpgradeRefused,
    BadRequest,
    Unavailable,
    Internal,
    UpstreamFailed,
    UpstreamTimeout,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MissingKey => StatusCode::UNAUTHORIZED,
            Self::Key(code) => match code {
                VerifyCode::NotFound
                | VerifyCode::Revoked
                | VerifyCode::Expired
                | VerifyCode::Disabled => StatusCode::UNAUTHORIZED,
                VerifyCode::InsufficientPermissions | VerifyCode::Forbidden => {
                    StatusCode::FORBIDDEN
                }
                VerifyCode::UsageExceeded | VerifyCode::RateLimited => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                // A valid key is never refused; answering as unavailable fails closed.
                VerifyCode::Valid => StatusCode::SERVICE_UNAVAILABLE,
            },
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UpgradeRefused => StatusCode::NOT_IMPLEMENTED,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            Self::NoRoute => ("not_found", "no route of this gateway matches the method and path"),
            Self::MissingKey => ("unauthorized", "this route needs an API key"),
            Self::Key(code) => match code {
                VerifyCode::NotFound => ("unauthorized", "the API key is not valid"),
                VerifyCode::Revoked => ("unauthorized", "the API key was revoked"),
                VerifyCode::Expired => ("unauthorized", "the API key has expired"),
                VerifyCode::Disabled => ("unauthorized", "the API key is disabled"),
                VerifyCode::InsufficientPermissions => (
                    "forbidden",
                    "the API key lacks the permission this route requires",
                ),
                VerifyCode::Forbidden => (
                    "forbidden",
                    "the API key may not be used from this address or origin",
                ),
                VerifyCode::UsageExceeded => ("usage_exceeded", "the API key has no credits left"),
                VerifyCode::RateLimited => ("rate_limited", "the API key's rate limit is reached"),
                VerifyCode::Valid => ("unavailable", "the key could not be checked"),
            },
            Self::RateLimited { .. } => ("rate_limited", "the API key's rate limit is reached"),
            Self::UpgradeRefused => (
                "upgrade_not_supported",
                "this gateway does not forward protocol upgrades (WebSocket)",
            ),
            Self::BadRequest => (
                "invalid_request",
                "the request's path, origin or user agent cannot be recorded (too long, or control characters)",
            ),
            Self::Unavailable => ("unavailable", "the key cannot be checked right now; retry later"),
            Self::Internal => ("internal", "the gateway failed to handle the request"),
            Self::UpstreamFailed => ("bad_gateway", "the upstream service could not be reached"),
            Self::UpstreamTimeout => ("gateway_timeout", "the upstream service did not answer in time"),
        }
    }

    /// The answer sent to the client.
    pub fn response(self) -> Response<GatewayBody> {
        let (code, message) = self.code_and_message();
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        let mut response = Response::new(crate::body::full(Bytes::from(body.to_string())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status() == StatusCode::UNAUTHORIZED {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keyward\""),
            );
        }
        if let Self::RateLimited { retry_after_secs } = self {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verify_code_but_valid_maps_to_a_client_error() {
        for code in VerifyCode::ALL {
            let status = Refusal::Key(code).status();
            if code == VerifyCode::Valid {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            } else {
                assert!(status.is_client_error(), "{code:?} → {status}");
            }
        }
    }

    #[test]
    fn a_rate_limited_answer_says_when_to_retry() {
        let response = Refusal::RateLimited {
            retry_after_secs: 7,
        }
        .response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[RETRY_AFTER], "7");
        let unauthorized = Refusal::MissingKey.response();
        assert!(unauthorized.headers().contains_key(WWW_AUTHENTICATE));
    }
}
