//! What a successful call returns: the typed body together with the body exactly as sent,
//! and the raw answer of a hand-built request.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// A successful answer: `value` is the typed body, `raw` the body exactly as the server sent
/// it (to show the server's own JSON, or to check a signed document as signed).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reply<T> {
    /// The success status (`200`, `201`, …).
    pub status: StatusCode,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// The body, typed.
    pub value: T,
    /// The body exactly as sent.
    pub raw: String,
}

impl<T> Reply<T> {
    /// The typed body.
    pub fn into_value(self) -> T {
        self.value
    }
}

/// Any answer to a request built with [`crate::Client::request`], whatever its status.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawResponse {
    /// The status, whatever it is.
    pub status: StatusCode,
    /// The answer's headers.
    pub headers: HeaderMap,
    /// The body as text (invalid UTF-8 replaced).
    pub text: String,
}

impl RawResponse {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.text)
    }

    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}
