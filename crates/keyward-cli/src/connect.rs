//! The CLI's side of `keyward-client`: a [`Client`] from the command-line options, and every
//! failure (no server, refused key, rejected request) as the one-line message the CLI shows,
//! which never holds the root key or the URL's credentials.

use anyhow::{anyhow, bail, Result};
use keyward_api::ErrorBody;
use keyward_client::{Client, Error, SecretString};

use crate::args::ClientArgs;
use crate::output::{one_line, warn_clear_text};

const USER_AGENT: &str = concat!("keyward-cli/", env!("CARGO_PKG_VERSION"));

/// A client for the server and root key in `args`; checks the URL and root key, sends
/// nothing yet. Warns on stderr when the root key would cross the network in clear.
pub(crate) fn client(args: &ClientArgs) -> Result<Client> {
    let builder = Client::builder(&args.url)
        .map_err(explain)?
        .user_agent(USER_AGENT);
    let root_key = root_key(args.root_key.as_deref())?;
    let client = builder.root_key(root_key).build().map_err(explain)?;
    if client.sends_root_key_in_clear() {
        warn_clear_text(&client.url());
    }
    Ok(client)
}

/// A client for the endpoints that take no root key (`POST /v1/leaks`).
pub(crate) fn anonymous(url: &str) -> Result<Client> {
    Client::builder(url)
        .map_err(explain)?
        .user_agent(USER_AGENT)
        .build()
        .map_err(explain)
}

/// The root key as given, without surrounding whitespace (a variable set from a file keeps
/// its newline).
fn root_key(raw: Option<&str>) -> Result<SecretString> {
    match raw.map(str::trim).filter(|key| !key.is_empty()) {
        Some(key) => Ok(SecretString::from(key.to_owned())),
        None => bail!("no root key: set KEYWARD_ROOT_KEY (or pass --root-key)"),
    }
}

/// A client call's failure as the CLI's error.
pub(crate) trait Explained<T> {
    fn explained(self) -> Result<T>;
}

impl<T> Explained<T> for Result<T, Error> {
    fn explained(self) -> Result<T> {
        self.map_err(explain)
    }
}

/// The message for each failure; for an error status, [`status_message`].
fn explain(err: Error) -> anyhow::Error {
    match err {
        Error::Api(api) => anyhow!(status_message(api.status.as_u16(), &api.body)),
        Error::InvalidRootKey => anyhow!(
            "the root key contains characters that cannot be sent in an HTTP header: check KEYWARD_ROOT_KEY"
        ),
        Error::ContentType {
            url,
            expected,
            received,
        } => anyhow!(
            "unexpected response from {url}: expected {expected}, got {:?} (is this a keyward server?)",
            one_line(&received)
        ),
        Error::Stalled { url, after } => anyhow!(
            "keyward at {url} stopped sending for {}s; the output is incomplete",
            after.as_secs()
        ),
        Error::CutOff { url, cause } => anyhow!(
            "the transfer from keyward at {url} was cut off ({cause}); the output is incomplete"
        ),
        // A bad URL, no answer, an answer that is not keyward's: the client's words.
        other => anyhow!(other.to_string()),
    }
}

/// The message for an HTTP error status, using the server's own explanation when the body
/// is keyward's `ErrorBody`.
fn status_message(status: u16, body: &str) -> String {
    let explanation = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|body| one_line(&body.error.message))
        .filter(|message| !message.is_empty());
    let said = |fallback: &str| explanation.clone().unwrap_or_else(|| fallback.to_owned());
    match status {
        400 => format!("the server rejected the request (400): {}", said("bad request")),
        401 => "the root key was refused (401): check that KEYWARD_ROOT_KEY holds a current root key for this server".to_owned(),
        403 => format!(
            "the root key is not allowed to do this (403): {}",
            said("forbidden")
        ),
        404 => format!(
            "not found (404): {}",
            said("no such resource (is the URL a keyward server?)")
        ),
        409 => format!("conflict (409): {}", said("conflict")),
        413 => format!("request too large (413): {}", said("payload too large")),
        415 => format!(
            "unsupported media type (415): {}",
            said("unsupported media type")
        ),
        429 => format!(
            "too many requests (429): {}",
            said("rate limited, try again shortly")
        ),
        503 => format!("keyward is unavailable (503): {}", said("try again shortly")),
        500..=599 => format!(
            "keyward failed to handle the request ({status}): {}",
            said("internal error")
        ),
        _ => format!(
            "unexpected response from keyward ({status}): {}",
            said("no explanation given")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_client::ExposeSecret;
    use keyward_client::{ApiError, StatusCode};
    use std::time::Duration;

    fn error_body(code: &str, message: &str) -> String {
        serde_json::json!({"error": {"code": code, "message": message}}).to_string()
    }

    #[test]
    fn server_messages_are_used_for_rejections() {
        let body = error_body("bad_request", "name: \"API\" is too generic");
        assert_eq!(
            status_message(400, &body),
            "the server rejected the request (400): name: \"API\" is too generic"
        );
        let body = error_body("conflict", "a live key is already named \"Stripe\"");
        assert_eq!(
            status_message(409, &body),
            "conflict (409): a live key is already named \"Stripe\""
        );
        let body = error_body("payload_too_large", "body over 64 KiB");
        assert_eq!(
            status_message(413, &body),
            "request too large (413): body over 64 KiB"
        );
        let body = error_body("not_found", "no key with id key_1");
        assert_eq!(
            status_message(404, &body),
            "not found (404): no key with id key_1"
        );
        let body = error_body("forbidden", "this root key lacks keys:write");
        assert!(status_message(403, &body).contains("(403): this root key lacks keys:write"));
    }

    #[test]
    fn refused_root_key_points_at_the_variable() {
        let message = status_message(401, &error_body("unauthorized", "bad key"));
        assert!(message.starts_with("the root key was refused (401)"));
        assert!(message.contains("KEYWARD_ROOT_KEY"));
    }

    #[test]
    fn bodies_that_are_not_keyward_errors_fall_back() {
        assert_eq!(
            status_message(404, "<html>nginx</html>"),
            "not found (404): no such resource (is the URL a keyward server?)"
        );
        assert_eq!(
            status_message(502, ""),
            "keyward failed to handle the request (502): internal error"
        );
        assert_eq!(
            status_message(302, ""),
            "unexpected response from keyward (302): no explanation given"
        );
    }

    #[test]
    fn server_messages_become_one_line() {
        let body = error_body("bad_request", "line one\nline two");
        assert_eq!(
            status_message(400, &body),
            "the server rejected the request (400): line one line two"
        );
    }

    #[test]
    fn unreachable_server_names_the_url() {
        let message = explain(Error::Transport {
            url: "http://127.0.0.1:9".into(),
            kind: keyward_client::TransportKind::Connect,
            cause: "Connection refused (os error 111)".into(),
        })
        .to_string();
        assert_eq!(
            message,
            "cannot reach keyward at http://127.0.0.1:9: is the server running? (Connection refused (os error 111))"
        );
    }

    #[test]
    fn missing_or_blank_root_key_says_what_to_set() {
        for key in [None, Some(""), Some("  ")] {
            let err = root_key(key).map(|_| ()).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("no root key: set KEYWARD_ROOT_KEY (or pass --root-key)")
            );
        }
    }

    #[test]
    fn root_key_is_trimmed_and_errors_do_not_echo_it() {
        let key = root_key(Some(" kwroot_abc \n")).unwrap();
        assert_eq!(key.expose_secret(), "kwroot_abc");
        let args = ClientArgs {
            url: "http://127.0.0.1:8080".into(),
            root_key: Some("kwroot_\u{7f}secret".into()),
            json: false,
        };
        let err = client(&args).unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("KEYWARD_ROOT_KEY"), "{err}");
    }

    #[test]
    fn bad_urls_are_refused_before_the_root_key_is_looked_at() {
        let args = ClientArgs {
            url: "127.0.0.1:8080".into(),
            root_key: None,
            json: false,
        };
        let err = client(&args).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid server URL \"127.0.0.1:8080\""),
            "{err}"
        );
    }

    #[test]
    fn an_export_refused_cut_off_or_of_the_wrong_type_says_so() {
        let refused = explain(Error::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            None,
            error_body("forbidden", "this root key lacks audit:read"),
        )))
        .to_string();
        assert!(
            refused.contains("(403): this root key lacks audit:read"),
            "{refused}"
        );
        let cut = explain(Error::CutOff {
            url: "http://127.0.0.1:9".into(),
            cause: "connection closed".into(),
        })
        .to_string();
        assert!(cut.contains("the output is incomplete"), "{cut}");
        let stalled = explain(Error::Stalled {
            url: "http://127.0.0.1:9".into(),
            after: Duration::from_secs(60),
        })
        .to_string();
        assert_eq!(
            stalled,
            "keyward at http://127.0.0.1:9 stopped sending for 60s; the output is incomplete"
        );
        let html = explain(Error::ContentType {
            url: "http://127.0.0.1:9".into(),
            expected: "application/x-ndjson",
            received: "text/html".into(),
        })
        .to_string();
        assert!(html.contains("expected application/x-ndjson"), "{html}");
    }
}
