//! [`Refusal`]: why the layer answered instead of the handler, and the answer it sends —
//! a status, keyward's JSON error shape (`{"error": {"code", "message"}}`) and the header
//! the status calls for (`WWW-Authenticate` with `401`/`403`, `Retry-After` with `429`/`503`).

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, Response, StatusCode};
use keyward_client::api::VerifyCode;
use std::fmt;
use std::time::Duration;

/// How long a client is told to wait when keyward cannot be asked and did not say.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a request was not passed to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `401`: the request carries no key where the layer looks for one.
    MissingKey,
    /// `401`: keyward does not accept the key (unknown, revoked, expired, disabled); `code`
    /// is keyward's verify code.
    InvalidKey {
        /// keyward's verify code, e.g. `REVOKED`.
        code: VerifyCode,
    },
    /// `403`: the key is valid but lacks the route's permission.
    InsufficientPermissions {
        /// The permission (or expression) the route requires.
        required: String,
    },
    /// `403`: the key may not be used from this client's IP address or origin.
    Forbidden,
    /// `429`: the key's rate limit is spent for now; `retry_after` is when its window ends.
    RateLimited {
        /// How long until the key's rate-limit window ends, if keyward said.
        retry_after: Option<Duration>,
    },
    /// `429`: the key has no usage credits left.
    UsageExceeded,
    /// `503`: keyward could not be asked, or its answer was not one the layer understands;
    /// the request is refused rather than let through (fails closed).
    Unavailable {
        /// How long to wait, as keyward said, or a default.
        retry_after: Duration,
    },
}

/// Where the layer looks for the key, so a `401` can say how to send one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Bearer,
    Header(HeaderName),
}

impl Refusal {
    /// The refusal for keyward's answer `code` (not `VALID`) to a request that required
    /// `required`.
    pub(crate) fn from_code(
        code: VerifyCode,
        required: Option<&str>,
        reset_after: Option<Duration>,
    ) -> Self {
        match code {
            VerifyCode::InsufficientPermissions => Self::InsufficientPermissions {
                required: required.unwrap_or_default().to_owned(),
            },
            VerifyCode::Forbidden => Self::Forbidden,
            VerifyCode::RateLimited => Self::RateLimited {
                retry_after: reset_after,
            },
            VerifyCode::UsageExceeded => Self::UsageExceeded,
            // NOT_FOUND, REVOKED, EXPIRED, DISABLED, and a code this version does not know:
            // the key is not accepted.
            code => Self::InvalidKey { code },
        }
    }

    /// `503` after keyward could not be asked; `retry_after` if keyward said.
    pub(crate) fn unavailable(retry_after: Option<Duration>) -> Self {
        Self::Unavailable {
            retry_after: retry_after.unwrap_or(UNAVAILABLE_RETRY_AFTER),
        }
    }

    /// The HTTP status this refusal answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingKey | Self::InvalidKey { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientPermissions { .. } | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::UsageExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable `code` of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing_key",
            Self::InvalidKey { .. } => "invalid_key",
            Self::InsufficientPermissions { .. } => "insufficient_permissions",
            Self::Forbidden => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::UsageExceeded => "usage_exceeded",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// The answer: status, JSON body and headers. `ResBody` is the service's body type
    /// (`axum::body::Body`, `http_body_util::Full<Bytes>`, …).
    pub(crate) fn into_response<B: From<String>>(self, challenge: &Challenge) -> Response<B> {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        });
        let mut response = Response::new(B::from(body.to_string()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(challenge) = self.challenge(challenge) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(wait) = self.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(wait));
        }
        response
    }

    /// `WWW-Authenticate` (RFC 6750 for bearer keys): no error for a missing key,
    /// `invalid_token` for a refused one, `insufficient_scope` for a missing permission.
    fn challenge(&self, challenge: &Challenge) -> Option<HeaderValue> {
        let error = match self {
            Self::MissingKey => None,
            Self::InvalidKey { .. } => Some("invalid_token"),
            Self::InsufficientPermissions { .. } => Some("insufficient_scope"),
            _ => return None,
        };
        let scheme = match challenge {
            Challenge::Bearer => "Bearer realm=\"keyward\"".to_owned(),
            Challenge::Header(name) => format!("ApiKey realm=\"keyward\", header=\"{name}\""),
        };
        let value = match error {
            Some(error) => format!("{scheme}, error=\"{error}\""),
            None => scheme,
        };
        HeaderValue::from_str(&value).ok()
    }

    /// Whole seconds, rounded up so a client never comes back too early.
    fn retry_after(&self) -> Option<u64> {
        let wait = match self {
            Self::RateLimited { retry_after } => (*retry_after)?,
            Self::Unavailable { retry_after } => *retry_after,
            _ => return None,
        };
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(seconds.max(1))
    }
}

/// The JSON body's `message`: what went wrong, never the key.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingKey => f.write_str("this request needs an API key"),
            Self::InvalidKey { code } => match code {
                VerifyCode::Revoked => f.write_str("the API key has been revoked"),
                VerifyCode::Expired => f.write_str("the API key has expired"),
                VerifyCode::Disabled => f.write_str("the API key is disabled"),
                _ => f.write_str("the API key is not valid"),
            },
            Self::InsufficientPermissions { required } => {
                write!(f, "the API key lacks the permission {required}")
            }
            Self::Forbidden => {
                f.write_str("the API key may not be used from this address or origin")
            }
            Self::RateLimited { .. } => f.write_str("the API key's rate limit is reached"),
            Self::UsageExceeded => f.write_str("the API key has no usage credits left"),
            Self::Unavailable { .. } => {
                f.write_str("the API key cannot be checked right now; try again later")
            }
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(refusal: Refusal, challenge: &Challenge) -> Response<String> {
        refusal.into_response(challenge)
    }

    fn header(response: &Response<String>, name: HeaderName) -> Option<&str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_refusal_has_its_status_json_body_and_headers() {
        let bearer = Challenge::Bearer;
        let missing = answer(Refusal::MissingKey, &bearer);
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&missing, WWW_AUTHENTICATE),
            Some("Bearer realm=\"keyward\"")
        );
        assert_eq!(header(&missing, CONTENT_TYPE), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(missing.body()).unwrap();
        assert_eq!(body["error"]["code"], "missing_key");

        let revoked = answer(Refusal::from_code(VerifyCode::Revoked, None, None), &bearer);
        assert_eq!(
            header(&revoked, WWW_AUTHENTICATE),
            Some("Bearer realm=\"keyward\", error=\"invalid_token\"")
        );
        assert!(revoked.body().contains("revoked"), "{}", revoked.body());

        let lacking = answer(
            Refusal::from_code(
                VerifyCode::InsufficientPermissions,
                Some("invoices:delete"),
                None,
            ),
            &Challenge::Header(HeaderName::from_static("x-api-key")),
        );
        assert_eq!(lacking.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            header(&lacking, WWW_AUTHENTICATE),
            Some("ApiKey realm=\"keyward\", header=\"x-api-key\", error=\"insufficient_scope\"")
        );
        assert!(lacking.body().contains("invoices:delete"));

        let limited = answer(
            Refusal::from_code(
                VerifyCode::RateLimited,
                None,
                Some(Duration::from_millis(1200)),
            ),
            &bearer,
        );
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&limited, RETRY_AFTER), Some("2"));
        assert_eq!(header(&limited, WWW_AUTHENTICATE), None);

        let down = answer(Refusal::unavailable(None), &bearer);
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&down, RETRY_AFTER), Some("5"));
        let soon = answer(
            Refusal::unavailable(Some(Duration::from_millis(10))),
            &bearer,
        );
        assert_eq!(header(&soon, RETRY_AFTER), Some("1"));
    }

    #[test]
    fn codes_this_version_does_not_know_refuse_the_key() {
        let refusal = Refusal::from_code(VerifyCode::from("SOMETHING_NEW"), None, None);
        assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refusal.to_string(), "the API key is not valid");
    }
}
