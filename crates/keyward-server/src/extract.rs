//! Extractors that turn every malformed request into a clear `ApiError` (never axum's plain
//! text rejections), and keep values the client sent out of the messages: a key pasted into
//! the wrong field must not be echoed back in an error.

use crate::error::ApiError;
use axum::body::{Body, HttpBody};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;

/// Largest request body accepted; larger ones get `413`. The router applies it to every
/// route (`DefaultBodyLimit`), and [`ApiJson`] refuses a larger declared length up front.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A body declared larger than [`MAX_BODY_BYTES`] but at most this is read and dropped
/// before the `413` (see [`drain`]); a larger one is refused without reading it.
const DRAIN_LIMIT: u64 = 2 * 1024 * 1024;

/// A JSON body (≤ 64 KiB, `Content-Type: application/json`) that is a JSON object.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = declared.filter(|&n| n > MAX_BODY_BYTES as u64) {
            if length <= DRAIN_LIMIT {
                drain(req.into_body()).await;
            }
            return Err(ApiError::PayloadTooLarge);
        }
        match Json::<Object<T>>::from_request(req, state).await {
            Ok(Json(Object(value))) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// Reads and drops `body` (up to [`DRAIN_LIMIT`]). An HTTP/1.1 client usually sends the whole
/// body before it reads the answer; closing the connection on a body we have not read makes
/// the client see a broken pipe instead of the `413`.
async fn drain(mut body: Body) {
    let mut read: u64 = 0;
    while read <= DRAIN_LIMIT {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => {
                let len = frame.data_ref().map_or(0, |data| data.len());
                read += u64::try_from(len).unwrap_or(u64::MAX);
            }
            Some(Err(_)) | None => break,
        }
    }
}

/// Deserializes `T` only from a JSON object. serde's derived structs also accept an array of
/// their fields in order, so without this `[]` would be a valid revoke or rotate request.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => match rejection {
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!(
                "invalid request body: {}",
                redact_values(&e.body_text())
            )),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!(
                "malformed JSON (or not UTF-8): {}",
                redact_values(&e.body_text())
            )),
            _ => ApiError::BadRequest("the request body could not be read".into()),
        },
    }
}

/// A path parameter such as a key id. One that cannot be decoded (`/v1/keys/%FF`) names no
/// resource: `404` with the usual JSON body, like any other malformed id.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::NotFound),
        }
    }
}

/// Query-string parameters.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::BadRequest(
                format!("invalid query string: {}", redact_values(&e.body_text())),
            )),
            Err(_) => Err(ApiError::BadRequest("invalid query string".into())),
        }
    }
}

/// serde quotes the offending value (`invalid type: string "…"`): everything between double
/// quotes is replaced. Names in backticks are the request type's own field names and stay
/// (`expected one of `name`, `permissions``, `missing field `name``), except the name the
/// client sent in `unknown field `…`` and `unknown variant `…``, which may be anything (a
/// key pasted as a JSON field name or a query parameter name). The line and column stay, so
/// the client can still find it.
pub fn redact_values(message: &str) -> String {
    redact_quoted(&redact_unknown_names(message))
}

/// Replaces the client's name in serde's `unknown field `{name}`, expected …` (and
/// `, there are no fields`, and the same for variants). The name may itself hold a backtick
/// or look like serde's text, so it ends where serde's text resumes for the last time (serde
/// stops at the first error; what follows lists our own names); without that text, the rest
/// of the message goes. axum's JSON errors start with the path to the error, whose last
/// segment is that same name (`…: bos_x: unknown field `bos_x``): it goes too.
fn redact_unknown_names(message: &str) -> String {
    const MARKERS: [&str; 2] = ["unknown field `", "unknown variant `"];
    const RESUMES: [&str; 2] = ["`, expected", "`, there are no"];
    let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| message.find(m).map(|at| (at, *m)))
        .min_by_key(|(at, _)| *at)
    else {
        return message.to_owned();
    };
    let before = &message[..at];
    let tail = &message[at + marker.len()..];
    let Some(end) = RESUMES.iter().filter_map(|r| tail.rfind(r)).max() else {
        return format!("{before}{marker}…`");
    };
    let name = &tail[..end];
    let path = before
        .strip_suffix(": ")
        .and_then(|p| p.strip_suffix(name))
        .filter(|_| !name.is_empty());
    match path {
        Some(path) => format!("{path}…: {marker}…{}", &tail[end..]),
        None => format!("{before}{marker}…{}", &tail[end..]),
    }
}

/// Replaces every quoted value by `"…"`. serde quotes a value with `{:?}`, which escapes a
/// quote inside it as `\"`: a backslash inside quotes escapes the next character, so an
/// escaped quote cannot end the value early and let the rest of it through.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    let mut escaped = false;
    for c in message.chars() {
        if inside && escaped {
            escaped = false;
        } else if inside && c == '\\' {
            escaped = true;
        } else if c == '"' {
            if inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_object_is_a_request() {
        use keyward_api::{RevokeKeyRequest, RotateKeyRequest, UpdateKeyRequest};
        let parse =
            |text: &str| serde_json::from_str::<Object<RotateKeyRequest>>(text).map(|o| o.0);
        assert!(parse("[]").is_err());
        assert!(parse("[60]").is_err());
        assert!(parse("null").is_err());
        assert_eq!(parse("{}").unwrap().grace_period_seconds, 0);
        assert_eq!(
            parse(r#"{"grace_period_seconds": 60}"#)
                .unwrap()
                .grace_period_seconds,
            60
        );
        assert!(
            parse(r#"{"grace": 60}"#).is_err(),
            "unknown fields are still refused"
        );
        assert!(serde_json::from_str::<Object<RevokeKeyRequest>>("[]").is_err());
        let cleared =
            serde_json::from_str::<Object<UpdateKeyRequest>>(r#"{"description": null}"#).unwrap();
        assert_eq!(cleared.0.description, Some(None), "null still clears");
    }

    #[test]
    fn quoted_values_are_redacted_and_field_names_kept() {
        let m = r#"invalid type: string "bos_secret", expected u64 at line 1 column 9 in `grace_period_seconds`"#;
        let r = redact_values(m);
        assert!(!r.contains("bos_secret"));
        assert!(r.contains("`grace_period_seconds`"));
        assert!(r.contains("expected u64"));
    }

    #[test]
    fn a_quoted_value_with_escaped_quotes_is_redacted_whole() {
        // serde's message for a string holding `"` and a control character, as `{:?}` writes it.
        let value = "a\"b\u{7f}s_FuzzedRequestKeyBody\\\"tail";
        let m = format!("invalid type: string {value:?}, expected a map at line 1 column 9");
        let r = redact_values(&m);
        assert_eq!(
            r,
            "invalid type: string \"…\", expected a map at line 1 column 9"
        );
        // The input the coverage-guided fuzzer found (fuzz/fuzz_targets/json_extractors.rs).
        let body = "\"verfiica`u\\\"veb\u{7f}s_FuzzedRequestKeyBodyOfThirtyTwoChars\",\"";
        let err = serde_json::from_str::<keyward_api::UpdateWorkspaceSettings>(body)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            !redact_values(&err).contains("FuzzedRequestKeyBody"),
            "{err}"
        );
    }

    #[test]
    fn unknown_names_are_redacted_and_expected_names_kept() {
        let key = "bos_5Qm2R7pLwTq8xZcA9dEfGhJkLmNpQrStUvWx1a2b3c";
        let m = format!(
            "unknown field `{key}`, expected one of `name`, `permissions` at line 1 column 60"
        );
        let r = redact_values(&m);
        assert_eq!(
            r,
            "unknown field `…`, expected one of `name`, `permissions` at line 1 column 60"
        );
        let r = redact_values("unknown variant `sleep\"ing`, expected `active` or `revoked`");
        assert_eq!(r, "unknown variant `…`, expected `active` or `revoked`");
        let r = redact_values("unknown field `a`b`, there are no fields");
        assert_eq!(r, "unknown field `…`, there are no fields");
        let r = redact_values("unknown field `x`, expected SECRET`, expected `name`");
        assert_eq!(r, "unknown field `…`, expected `name`");
        // Without serde's own text after it, nothing after the marker is trusted.
        let r = redact_values(&format!("unknown field `{key} and more"));
        assert_eq!(r, "unknown field `…`");
        let r = redact_values(&format!(
            "invalid request body: Failed to deserialize: keys[0].{key}: unknown field `{key}`, expected `key` or `location` at line 1 column 80"
        ));
        assert_eq!(
            r,
            "invalid request body: Failed to deserialize: keys[0].…: unknown field `…`, expected `key` or `location` at line 1 column 80"
        );
        let r = redact_values("missing field `name` at line 1 column 2");
        assert_eq!(r, "missing field `name` at line 1 column 2");
    }
}
