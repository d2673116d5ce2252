//! The security headers every answer carries, whoever writes it: the router, the connection
//! layer below it (`conn_io`) or the accept loop refusing a connection.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;

/// Responses may carry a key or a key's details: never cache them anywhere, and never let a
/// browser sniff, frame or refer from them.
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// `response` with every security header set (replacing any it had).
pub fn with_security_headers(mut response: Response) -> Response {
    for (name, value) in SECURITY_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}
