//! What every request leaves behind: its request id (the client's `X-Request-Id` when it is
//! safe to log and echo, else a new one, returned in the answer either way), one log line
//! (method, route template, status, latency, request id, and the ids of the root key that
//! authenticated and the key that was verified — never a key), and its latency in the
//! metrics (per route template, never per path).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use keyward_app::metrics::{Metrics, RequestLabels};
use keyward_core::redact::{redact, Redaction};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::field::display;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client: room for a UUID, a ULID or a trace id with a
/// prefix, not for a payload.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What a request's extractor and handler learn that belongs in its log line: ids only.
/// Each is set at most once.
#[derive(Debug, Default)]
pub struct RequestNotes {
    root_key_id: OnceLock<String>,
    key_id: OnceLock<String>,
}

impl RequestNotes {
    /// The root key that authenticated the request.
    pub fn authenticated(&self, root_key_id: &str) {
        let _ = self.root_key_id.set(root_key_id.to_owned());
    }

    /// The key a verification found.
    pub fn verified(&self, key_id: &str) {
        let _ = self.key_id.set(key_id.to_owned());
    }
}

/// The client's request id when it is 1 to [`MAX_REQUEST_ID_LEN`] characters of
/// `A-Z a-z 0-9 - _ . :` and holds nothing shaped like a key (it is logged and echoed);
/// `None` otherwise.
pub fn client_request_id(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let safe = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    let keyless = matches!(redact(id, Redaction::KeyShaped), Cow::Borrowed(_));
    (safe && keyless).then_some(id)
}

/// A new request id: a UUID v7, so ids sort by time.
fn new_request_id() -> HeaderValue {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The middleware: request id in, log line and latency out. `metrics` is `None` for the
/// router a server answers with before its state exists.
pub async fn observe(
    State(metrics): State<Option<Arc<Metrics>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| client_request_id(value).map(|_| value.clone()))
        .unwrap_or_else(new_request_id);
    let notes = Arc::new(RequestNotes::default());
    req.extensions_mut().insert(Arc::clone(&notes));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    // Before the handler reads the body: tests wait for it to know a request is in flight.
    tracing::trace!(%method, route = %route.as_deref().unwrap_or("unmatched"), "request started");
    let mut response = next.run(req).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    if let Some(metrics) = &metrics {
        metrics.request(
            &RequestLabels::new(method.as_str(), route.as_deref(), status),
            took,
        );
    }
    let route = route.as_deref().unwrap_or("unmatched");
    let latency_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let id = request_id.to_str().unwrap_or_default();
    // Displayed, not debugged: unquoted in text lines, plain strings in JSON ones.
    let root_key_id = notes.root_key_id.get().map(display);
    let key_id = notes.key_id.get().map(display);
    if status >= 500 {
        tracing::warn!(target: "keyward::request", %method, %route, status, latency_us, request_id = %id, root_key_id, key_id, "request");
    } else {
        tracing::info!(target: "keyward::request", %method, %route, status, latency_us, request_id = %id, root_key_id, key_id, "request");
    }
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(id: &str) -> bool {
        client_request_id(&HeaderValue::from_str(id).unwrap()).is_some()
    }

    #[test]
    fn a_safe_request_id_is_kept_and_anything_else_replaced() {
        assert!(accepted("0190f3c2-7b1e-7c2a-9f00-1234567890ab"));
        assert!(accepted("req_01HZX3:frontend.7"));
        assert!(!accepted(""));
        assert!(!accepted(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(accepted(&"a".repeat(MAX_REQUEST_ID_LEN)));
        assert!(!accepted("spaces are not ids"));
        assert!(!accepted("quote\"d"));
        assert!(!accepted("<script>"));
        // A key (or a key with a typo) is never logged as a request id.
        let prefix = keyward_core::KeyPrefix::parse("bos").unwrap();
        let key = keyward_core::ApiKey::generate(&prefix).unwrap();
        assert!(!accepted(key.expose()));
        // A key-shaped look-alike (its checksum wrong), made here rather than written out.
        let look_alike = format!("bos_{}", "Z".repeat(43));
        assert!(!accepted(&look_alike));
    }
}
