//! What the layer reads from a request: the key (taken out of the headers, so the handler
//! never sees it), and the context keyward records with the verification — client IP,
//! origin, user agent, and the action and resource (by default the method and the path).

use crate::refusal::Challenge;
use http::header::{AUTHORIZATION, ORIGIN, USER_AGENT};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use secrecy::SecretString;
use std::net::IpAddr;

/// keyward's limit on each context field of a verification, in characters.
const MAX_CONTEXT_CHARS: usize = 512;

/// Longer than any key keyward issues; anything longer is refused without asking keyward.
const MAX_KEY_BYTES: usize = 512;

/// What the request is doing, for the audit trail: `action` (by default the method, e.g.
/// `DELETE`) and `resource` (by default the path, e.g. `/invoices/INV-7`). Set either to
/// `None` to record nothing for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditContext {
    /// What the service is about to do, e.g. `invoices.delete`.
    pub action: Option<String>,
    /// What it is about to do it to, e.g. `INV-7`.
    pub resource: Option<String>,
}

impl AuditContext {
    /// A context with both fields given.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: Some(action.into()),
            resource: Some(resource.into()),
        }
    }

    /// The default: the method as the action, the path (without the query, which may carry
    /// anything) as the resource.
    pub fn from_method_and_path(parts: &Parts) -> Self {
        Self::new(parts.method.as_str(), parts.uri.path())
    }
}

/// Where the key is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The whole value of this header, e.g. `X-API-Key: <key>`.
    Header(HeaderName),
}

impl KeySource {
    pub(crate) fn challenge(&self) -> Challenge {
        match self {
            Self::Bearer => Challenge::Bearer,
            Self::Header(name) => Challenge::Header(name.clone()),
        }
    }

    /// The key, removed from `headers` (every copy of the header), or `None` when there is
    /// none that could be a key: absent, another scheme, empty, not text, too long.
    pub(crate) fn take(&self, headers: &mut HeaderMap) -> Option<SecretString> {
        let name = match self {
            Self::Bearer => &AUTHORIZATION,
            Self::Header(name) => name,
        };
        let mut values = match headers.entry(name) {
            http::header::Entry::Occupied(entry) => entry.remove_entry_mult().1,
            http::header::Entry::Vacant(_) => return None,
        };
        // One key per request: a repeated header is ambiguous, so none is taken.
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let text = value.to_str().ok()?;
        let key = match self {
            Self::Bearer => bearer_token(text)?,
            Self::Header(_) => text.trim(),
        };
        let plausible = !key.is_empty()
            && key.len() <= MAX_KEY_BYTES
            && !key.bytes().any(|b| b.is_ascii_whitespace());
        plausible.then(|| SecretString::from(key.to_owned()))
    }
}

/// The token of `Bearer <token>` (the scheme in any case, RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim_start())
}

/// A header's value as audit text, if it is text.
pub(crate) fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    audit_text(value)
}

/// The `Origin` and `User-Agent` headers.
pub(crate) fn origin_and_user_agent(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    (
        header_text(headers, ORIGIN),
        header_text(headers, USER_AGENT),
    )
}

/// `text` as keyward takes it into the audit trail: characters it refuses (control and
/// bidirectional formatting) replaced, cut to its length limit; `None` if nothing is left.
pub(crate) fn audit_text(text: &str) -> Option<String> {
    let text = text.trim();
    let fitted: String = if keyward_core::text::is_plain_line(text) {
        text.chars().take(MAX_CONTEXT_CHARS).collect()
    } else {
        text.chars()
            .map(|c| {
                if c.is_control() || keyward_core::text::is_bidi_control(c) {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .take(MAX_CONTEXT_CHARS)
            .collect()
    };
    let fitted = fitted.trim_end();
    (!fitted.is_empty()).then(|| fitted.to_owned())
}

/// The client's address as the server's connection saw it: axum's `ConnectInfo`, when the
/// service is served with `into_make_service_with_connect_info::<SocketAddr>()`.
pub(crate) fn connection_ip(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    {
        use axum::extract::ConnectInfo;
        use std::net::SocketAddr;
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_canonical())
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = parts;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use secrecy::ExposeSecret;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn take(source: &KeySource, pairs: &[(&str, &str)]) -> (Option<String>, HeaderMap) {
        let mut map = headers(pairs);
        let key = source.take(&mut map);
        (key.map(|k| k.expose_secret().to_owned()), map)
    }

    #[test]
    fn the_key_is_taken_from_a_bearer_header_and_removed() {
        let (key, left) = take(
            &KeySource::Bearer,
            &[("authorization", "bearer bos_abc"), ("accept", "*/*")],
        );
        assert_eq!(key.as_deref(), Some("bos_abc"));
        assert!(left.get(AUTHORIZATION).is_none());
        assert!(left.get("accept").is_some());
        for refused in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "bos_abc",
        ] {
            let (key, left) = take(&KeySource::Bearer, &[("authorization", refused)]);
            assert_eq!(key, None, "{refused:?}");
            assert!(
                left.get(AUTHORIZATION).is_none(),
                "removed even when refused"
            );
        }
        let long = format!("Bearer {}", "a".repeat(MAX_KEY_BYTES + 1));
        assert_eq!(
            take(&KeySource::Bearer, &[("authorization", &long)]).0,
            None
        );
    }

    #[test]
    fn a_configured_header_holds_the_whole_key_once() {
        let source = KeySource::Header(HeaderName::from_static("x-api-key"));
        let (key, left) = take(&source, &[("x-api-key", " bos_abc ")]);
        assert_eq!(key.as_deref(), Some("bos_abc"));
        assert!(left.is_empty());
        let twice = take(&source, &[("x-api-key", "bos_a"), ("x-api-key", "bos_b")]);
        assert_eq!(twice.0, None);
        assert!(twice.1.is_empty());
        assert_eq!(
            take(&source, &[("authorization", "Bearer bos_abc")]).0,
            None
        );
    }

    #[test]
    fn audit_text_fits_what_keyward_accepts() {
        assert_eq!(audit_text("  curl/8.5 ").as_deref(), Some("curl/8.5"));
        assert_eq!(audit_text("a\tb").as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(audit_text("x\u{202E}y").as_deref(), Some("x\u{FFFD}y"));
        assert_eq!(audit_text("   "), None);
        let long = "é".repeat(MAX_CONTEXT_CHARS + 10);
        assert_eq!(
            audit_text(&long).map(|t| t.chars().count()),
            Some(MAX_CONTEXT_CHARS)
        );
    }

    #[test]
    fn the_default_context_is_the_method_and_the_path_without_the_query() {
        let (parts, ()) = http::Request::delete("/invoices/INV-7?token=x")
            .body(())
            .unwrap()
            .into_parts();
        let context = AuditContext::from_method_and_path(&parts);
        assert_eq!(context, AuditContext::new("DELETE", "/invoices/INV-7"));
    }
}
