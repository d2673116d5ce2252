//! The HTTP side of the CLI: one [`Client`] that carries the root key to keyward (or, for
//! `scan --report`, no key at all), and the mapping of every failure (no server, refused
//! key, rejected request) to a one-line message that never shows the root key or the URL's
//! credentials.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use keyward_api::ErrorBody;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::output::one_line;
use crate::ClientArgs;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for a whole download; a stalled one is caught sooner by [`REQUEST_TIMEOUT`]
/// between pieces.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A keyward server and the root key to present to it.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    /// `Bearer <root key>`, marked sensitive; `None` only for [`Client::anonymous`].
    authorization: Option<HeaderValue>,
}

/// A successful response: the typed body, and the body exactly as the server sent it (for
/// `--json`).
pub(crate) struct Reply<T> {
    pub value: T,
    pub raw: String,
}

impl Client {
    /// Checks the URL and root key; sends nothing yet.
    pub(crate) fn new(args: &ClientArgs) -> Result<Self> {
        let base = parse_base_url(&args.url)?;
        let authorization = authorization(args.root_key.as_deref())?;
        if sends_secret_in_clear(&base) {
            eprintln!(
                "warning: {} is plain http to another machine: the root key crosses the network unencrypted; use https",
                shown_url(&base)
            );
        }
        Self::build(base, Some(authorization))
    }

    /// A client for the endpoints that take no root key (`POST /v1/leaks`).
    pub(crate) fn anonymous(url: &str) -> Result<Self> {
        Self::build(parse_base_url(url)?, None)
    }

    fn build(base: Url, authorization: Option<HeaderValue>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // A redirect could carry the root key somewhere else: refuse to follow any.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            http,
            base,
            authorization,
        })
    }

    /// The server's URL as messages show it (without credentials).
    pub(crate) fn shown_url(&self) -> String {
        shown_url(&self.base)
    }

    /// `GET` the path made of `segments`, with the query pairs given.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Reply<T>> {
        let url = self.endpoint(segments)?;
        self.execute(self.http.get(url).query(query)).await
    }

    /// Sends `body` as JSON with `method` to the path made of `segments`.
    pub(crate) async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<Reply<T>> {
        let url = self.endpoint(segments)?;
        self.execute(self.http.request(method, url).json(body))
            .await
    }

    /// `GET` a body too large to hold in memory (the NDJSON audit export): the response once
    /// its status says success and its `Content-Type` is `content_type`, for the caller to
    /// read piece by piece. The whole transfer may take as long as it needs; each piece must
    /// arrive within the usual request timeout.
    pub(crate) async fn download(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        content_type: &str,
    ) -> Result<Download> {
        let url = self.endpoint(segments)?;
        let request = self.http.get(url).query(query).timeout(DOWNLOAD_TIMEOUT);
        let response = self.respond(request).await?;
        let received = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !received.starts_with(content_type) {
            bail!(
                "unexpected response from {}: expected {content_type}, got {:?} (is this a keyward server?)",
                self.shown_url(),
                one_line(received)
            );
        }
        Ok(Download {
            response,
            base: self.shown_url(),
        })
    }

    /// The base URL with `segments` appended, each percent-encoded (an id cannot change the
    /// path).
    fn endpoint(&self, segments: &[&str]) -> Result<Url> {
        endpoint(&self.base, segments)
    }

    async fn execute<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<Reply<T>> {
        let raw = self
            .respond(request)
            .await?
            .text()
            .await
            .map_err(|err| self.transport_error(&err))?;
        let value = serde_json::from_str(&raw).map_err(|err| {
            anyhow!(
                "unexpected response from {}: {err} (is this a keyward server?)",
                self.shown_url()
            )
        })?;
        Ok(Reply { value, raw })
    }

    /// Sends `request` with the root key, if any: the response when its status says success,
    /// else an error explaining the status.
    async fn respond(&self, request: RequestBuilder) -> Result<reqwest::Response> {
        let request = match &self.authorization {
            Some(authorization) => request.header(AUTHORIZATION, authorization.clone()),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|err| self.transport_error(&err))?;
        let status = response.status();
        if !status.is_success() {
            let raw = response
                .text()
                .await
                .map_err(|err| self.transport_error(&err))?;
            bail!(status_message(status.as_u16(), &raw));
        }
        Ok(response)
    }

    fn transport_error(&self, err: &reqwest::Error) -> anyhow::Error {
        transport_message(
            &self.shown_url(),
            err.is_timeout(),
            err.is_connect(),
            &root_cause(err),
        )
    }
}

/// A response body being received (see [`Client::download`]).
pub(crate) struct Download {
    response: reqwest::Response,
    base: String,
}

impl Download {
    /// The next piece of the body, `None` at its end. A body cut off by the server or the
    /// network is an error, so a partial download never looks complete.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.response.chunk()).await {
            Err(_) => bail!(
                "keyward at {} stopped sending for {}s; the output is incomplete",
                self.base,
                REQUEST_TIMEOUT.as_secs()
            ),
            Ok(Err(err)) => bail!(
                "the transfer from keyward at {} was cut off ({}); the output is incomplete",
                self.base,
                root_cause(&err)
            ),
            Ok(Ok(chunk)) => Ok(chunk.map(|bytes| bytes.to_vec())),
        }
    }
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|err| {
        anyhow!("invalid server URL {raw:?}: {err} (expected e.g. http://127.0.0.1:8080)")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("invalid server URL {raw:?}: it must start with http:// or https://");
    }
    Ok(url)
}

fn endpoint(base: &Url, segments: &[&str]) -> Result<Url> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| anyhow!("invalid server URL {}", shown_url(base)))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn authorization(root_key: Option<&str>) -> Result<HeaderValue> {
    let key = root_key
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| anyhow!("no root key: set KEYWARD_ROOT_KEY (or pass --root-key)"))?;
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
        anyhow!("the root key contains characters that cannot be sent in an HTTP header: check KEYWARD_ROOT_KEY")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The URL as messages show it: no user or password, no trailing slash.
fn shown_url(url: &Url) -> String {
    let mut url = url.clone();
    // Both only fail on URLs that cannot have credentials, which then have none to hide.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str().trim_end_matches('/').to_owned()
}

/// Plain http is fine on this machine; anywhere else the root key would travel in clear.
fn sends_secret_in_clear(url: &Url) -> bool {
    if url.scheme() != "http" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => !host.eq_ignore_ascii_case("localhost"),
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The message for a request that got no HTTP answer.
fn transport_message(url: &str, timeout: bool, connect: bool, cause: &str) -> anyhow::Error {
    if timeout {
        anyhow!("keyward at {url} did not answer in time ({cause})")
    } else if connect {
        anyhow!("cannot reach keyward at {url}: is the server running? ({cause})")
    } else {
        anyhow!("request to keyward at {url} failed: {cause}")
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
        let message = transport_message(
            "http://127.0.0.1:9",
            false,
            true,
            "Connection refused (os error 111)",
        )
        .to_string();
        assert_eq!(
            message,
            "cannot reach keyward at http://127.0.0.1:9: is the server running? (Connection refused (os error 111))"
        );
    }

    #[test]
    fn missing_or_blank_root_key_says_what_to_set() {
        for key in [None, Some(""), Some("  ")] {
            let err = authorization(key).map(|_| ()).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("no root key: set KEYWARD_ROOT_KEY (or pass --root-key)")
            );
        }
    }

    #[test]
    fn root_key_header_is_sensitive_and_errors_do_not_echo_it() {
        let value = authorization(Some(" kwroot_abc \n")).unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer kwroot_abc");
        let err = authorization(Some("kwroot_\u{7f}secret")).unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        let base = parse_base_url("http://127.0.0.1:8080").unwrap();
        let url = endpoint(&base, &["v1", "keys", "../root-keys?x=1"]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/v1/keys/..%2Froot-keys%3Fx=1"
        );
        let prefixed = parse_base_url("https://example.com/keyward/").unwrap();
        let url = endpoint(&prefixed, &["v1", "verify"]).unwrap();
        assert_eq!(url.as_str(), "https://example.com/keyward/v1/verify");
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(parse_base_url("127.0.0.1:8080").is_err());
        assert!(parse_base_url("ftp://example.com").is_err());
        assert!(parse_base_url("not a url").is_err());
    }

    /// Serves `response` (raw HTTP) to one connection and closes it; returns the server URL.
    async fn one_response(response: String) -> String {
        one_exchange(response).await.0
    }

    /// [`one_response`], and the request's head as the server received it.
    async fn one_exchange(response: String) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
            String::from_utf8_lossy(&request).to_ascii_lowercase()
        });
        (url, served)
    }

    #[tokio::test]
    async fn only_a_client_with_a_root_key_sends_one() {
        let accepted =
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let body = serde_json::json!({});
        let (url, request) = one_exchange(accepted.into()).await;
        let _: Reply<serde_json::Value> = client_for(url)
            .send(Method::POST, &["v1", "leaks"], &body)
            .await
            .unwrap();
        let head = request.await.unwrap();
        assert!(head.contains("authorization: bearer kwroot_abc"), "{head}");
        let (url, request) = one_exchange(accepted.into()).await;
        let _: Reply<serde_json::Value> = Client::anonymous(&url)
            .unwrap()
            .send(Method::POST, &["v1", "leaks"], &body)
            .await
            .unwrap();
        let head = request.await.unwrap();
        assert!(!head.contains("authorization"), "{head}");
    }

    fn client_for(url: String) -> Client {
        Client::new(&ClientArgs {
            url,
            root_key: Some("kwroot_abc".into()),
            json: false,
        })
        .unwrap()
    }

    async fn download_all(url: String) -> (Vec<u8>, Result<()>) {
        let client = client_for(url);
        let mut download = match client
            .download(&["v1", "audit", "export"], &[], "application/x-ndjson")
            .await
        {
            Ok(download) => download,
            Err(err) => return (Vec::new(), Err(err)),
        };
        let mut body = Vec::new();
        loop {
            match download.next_chunk().await {
                Ok(Some(chunk)) => body.extend(chunk),
                Ok(None) => return (body, Ok(())),
                Err(err) => return (body, Err(err)),
            }
        }
    }

    #[tokio::test]
    async fn a_download_arrives_whole() {
        let url = one_response(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n3\r\n[]\n\r\n0\r\n\r\n"
            .into(),
        )
        .await;
        let (body, result) = download_all(url).await;
        result.unwrap();
        assert_eq!(body, b"{}\n[]\n");
    }

    #[tokio::test]
    async fn a_download_cut_off_is_an_error() {
        // The final zero-length chunk never comes: the server died mid-export.
        let url = one_response(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n"
            .into(),
        )
        .await;
        let (body, result) = download_all(url).await;
        assert!(body.len() <= 3, "{body:?}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("the output is incomplete"), "{message}");
    }

    #[tokio::test]
    async fn a_download_refused_or_of_the_wrong_type_is_an_error() {
        let body = error_body("forbidden", "this root key lacks audit:read");
        let url = one_response(format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await;
        let message = download_all(url).await.1.unwrap_err().to_string();
        assert!(
            message.contains("(403): this root key lacks audit:read"),
            "{message}"
        );
        let url = one_response(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>".into(),
        )
        .await;
        let message = download_all(url).await.1.unwrap_err().to_string();
        assert!(
            message.contains("expected application/x-ndjson"),
            "{message}"
        );
    }

    #[test]
    fn shown_url_drops_credentials() {
        let url = parse_base_url("https://user:pass@example.com/").unwrap();
        assert_eq!(shown_url(&url), "https://example.com");
    }

    #[test]
    fn clear_text_warning_only_off_this_machine() {
        let clear = |raw: &str| sends_secret_in_clear(&parse_base_url(raw).unwrap());
        assert!(!clear("http://127.0.0.1:8080"));
        assert!(!clear("http://localhost:8080"));
        assert!(!clear("http://[::1]:8080"));
        assert!(!clear("https://keys.example.com"));
        assert!(clear("http://keys.example.com"));
        assert!(clear("http://10.0.0.5:8080"));
    }
}
