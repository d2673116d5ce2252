//! [`Client`]: one keyward server, and the root key to present to it (or none, for the
//! routes that take none). Every route is a typed method; [`Client::request`] builds any
//! other request, for callers that need to send what the typed methods cannot (a test of
//! bad input, say).

use crate::error::{root_cause, ApiError, Error, TransportKind};
use crate::export::AuditExport;
use crate::reply::{RawResponse, Reply};
use crate::routes::Route;
use keyward_api::leaks::{LeakReport, LeakReportAccepted};
use keyward_api::{
    AuditList, AuditQuery, ChainCheck, CreateKeyRequest, CreateRootKeyRequest, CreatedKey,
    CreatedRootKey, ImportKeysRequest, ImportKeysResponse, Key, KeyList, KeyListQuery, Policy,
    Probe, RevokeKeyRequest, RootKeyInfo, RotateKeyRequest, SignedAnchor, UpdateKeyRequest,
    UpdateWorkspaceSettings, VerifyRequest, VerifyResponse, WorkspaceSettings,
};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for a whole export; a stalled one is caught sooner by the request timeout
/// between pieces.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
const NDJSON: &str = "application/x-ndjson";

/// A keyward server and the root key to present to it.
///
/// Cheap to clone (the connection pool is shared). `Debug` never shows the root key, nor
/// credentials in the URL.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    root_key: Option<SecretString>,
    timeout: Duration,
}

/// Options of a [`Client`]; [`Client::builder`] makes one.
pub struct ClientBuilder {
    base: Url,
    root_key: Option<SecretString>,
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
    /// CA certificates trusted besides the usual roots (a private CA's `https://` server).
    root_certificates: Vec<reqwest::Certificate>,
}

impl Client {
    /// A client presenting `root_key` to the server at `base_url` (`http://` or `https://`,
    /// optionally with a path prefix). Sends nothing yet.
    pub fn new(base_url: &str, root_key: SecretString) -> Result<Self, Error> {
        Self::builder(base_url)?.root_key(root_key).build()
    }

    /// A client without a root key, for the routes that take none (leak reports, probes).
    pub fn anonymous(base_url: &str) -> Result<Self, Error> {
        Self::builder(base_url)?.build()
    }

    /// Checks `base_url`; the builder sets the rest.
    pub fn builder(base_url: &str) -> Result<ClientBuilder, Error> {
        Ok(ClientBuilder {
            base: parse_base_url(base_url)?,
            root_key: None,
            connect_timeout: CONNECT_TIMEOUT,
            timeout: REQUEST_TIMEOUT,
            user_agent: concat!("keyward-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            root_certificates: Vec::new(),
        })
    }

    /// The server's URL as messages may show it: without credentials or a trailing slash.
    pub fn url(&self) -> String {
        shown_url(&self.base)
    }

    /// The same server presenting `root_key` instead, sharing this client's connection pool
    /// and options: for a caller acting as several root keys (each with its own rights)
    /// without opening a pool per key. Fails if the root key cannot be sent in a header.
    pub fn with_root_key(&self, root_key: SecretString) -> Result<Self, Error> {
        authorization(&root_key)?;
        Ok(Self {
            root_key: Some(root_key),
            ..self.clone()
        })
    }

    /// The same server presenting no root key, sharing this client's connection pool and
    /// options (for the routes that take none, or to see a request without one refused).
    pub fn without_root_key(&self) -> Self {
        Self {
            root_key: None,
            ..self.clone()
        }
    }

    /// Whether the root key would cross the network unencrypted: plain `http` to another
    /// machine than this one.
    pub fn sends_root_key_in_clear(&self) -> bool {
        self.root_key.is_some() && sends_secret_in_clear(&self.base)
    }

    // Keys.

    /// `POST /v1/keys`: the answer holds the plaintext key, the only time it is shown.
    pub async fn create_key(&self, request: &CreateKeyRequest) -> Result<Reply<CreatedKey>, Error> {
        self.call(Route::CreateKey, &[], Some(request)).await
    }

    /// `POST /v1/keys/import`: keys another system issued, one result per key.
    pub async fn import_keys(
        &self,
        request: &ImportKeysRequest,
    ) -> Result<Reply<ImportKeysResponse>, Error> {
        self.call(Route::ImportKeys, &[], Some(request)).await
    }

    /// `GET /v1/keys`: one page, newest first.
    pub async fn list_keys(&self, query: &KeyListQuery) -> Result<Reply<KeyList>, Error> {
        self.call(Route::ListKeys, &query.pairs(), None::<&()>)
            .await
    }

    /// `GET /v1/keys/{id}`
    pub async fn key(&self, id: &str) -> Result<Reply<Key>, Error> {
        self.call(Route::ShowKey(id), &[], None::<&()>).await
    }

    /// `PATCH /v1/keys/{id}`
    pub async fn update_key(
        &self,
        id: &str,
        request: &UpdateKeyRequest,
    ) -> Result<Reply<Key>, Error> {
        self.call(Route::UpdateKey(id), &[], Some(request)).await
    }

    /// `POST /v1/keys/{id}/revoke`
    pub async fn revoke_key(
        &self,
        id: &str,
        request: &RevokeKeyRequest,
    ) -> Result<Reply<Key>, Error> {
        self.call(Route::RevokeKey(id), &[], Some(request)).await
    }

    /// `POST /v1/keys/{id}/rotate`: the answer is the replacement, with its plaintext key.
    pub async fn rotate_key(
        &self,
        id: &str,
        request: &RotateKeyRequest,
    ) -> Result<Reply<CreatedKey>, Error> {
        self.call(Route::RotateKey(id), &[], Some(request)).await
    }

    /// `POST /v1/verify`: whether a key is valid, as a service asks before serving a
    /// request. A key that is not valid is a `200` with `valid: false`, not an error.
    pub async fn verify(&self, request: &VerifyRequest) -> Result<Reply<VerifyResponse>, Error> {
        self.call(Route::Verify, &[], Some(request)).await
    }

    // Leaks (no root key needed).

    /// `POST /v1/leaks`: revokes every valid key in the report. The answer is the same
    /// whether or not any key was valid; a `429` carries `Retry-After`.
    pub async fn report_leaks(
        &self,
        report: &LeakReport,
    ) -> Result<Reply<LeakReportAccepted>, Error> {
        self.call(Route::ReportLeaks, &[], Some(report)).await
    }

    // Root keys.

    /// `POST /v1/root-keys`: the answer holds the new root key, the only time it is shown.
    pub async fn create_root_key(
        &self,
        request: &CreateRootKeyRequest,
    ) -> Result<Reply<CreatedRootKey>, Error> {
        self.call(Route::CreateRootKey, &[], Some(request)).await
    }

    /// `GET /v1/root-keys`
    pub async fn root_keys(&self) -> Result<Reply<Vec<RootKeyInfo>>, Error> {
        self.call(Route::ListRootKeys, &[], None::<&()>).await
    }

    /// `POST /v1/root-keys/{id}/revoke`
    pub async fn revoke_root_key(&self, id: &str) -> Result<Reply<RootKeyInfo>, Error> {
        self.call(Route::RevokeRootKey(id), &[], None::<&()>).await
    }

    // Workspace settings and policy.

    /// `GET /v1/workspace`
    pub async fn workspace(&self) -> Result<Reply<WorkspaceSettings>, Error> {
        self.call(Route::ShowWorkspace, &[], None::<&()>).await
    }

    /// `PATCH /v1/workspace`
    pub async fn update_workspace(
        &self,
        request: &UpdateWorkspaceSettings,
    ) -> Result<Reply<WorkspaceSettings>, Error> {
        self.call(Route::UpdateWorkspace, &[], Some(request)).await
    }

    /// `GET /v1/policy`
    pub async fn policy(&self) -> Result<Reply<Policy>, Error> {
        self.call(Route::ShowPolicy, &[], None::<&()>).await
    }

    /// `PUT /v1/policy`
    pub async fn set_policy(&self, policy: &Policy) -> Result<Reply<Policy>, Error> {
        self.call(Route::SetPolicy, &[], Some(policy)).await
    }

    // Safety advice.

    /// `GET /v1/advice`: one page of the workspace's advice, worst first.
    pub async fn advice(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Reply<keyward_api::advice::AdviceList>, Error> {
        let mut pairs = Vec::new();
        if let Some(limit) = limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.to_owned()));
        }
        self.call(Route::Advice, &pairs, None::<&()>).await
    }

    /// `POST /v1/keys/{id}/advice/{code}/dismiss`
    pub async fn dismiss_advice(
        &self,
        id: &str,
        code: &str,
    ) -> Result<Reply<keyward_api::advice::AdviceDismissal>, Error> {
        self.call(Route::DismissAdvice(id, code), &[], None::<&()>)
            .await
    }

    // Audit.

    /// `GET /v1/audit`: one page of events, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Reply<AuditList>, Error> {
        self.call(Route::Audit, &query.pairs(), None::<&()>).await
    }

    /// `GET /v1/audit/export`: every matching event, streamed as NDJSON. The whole transfer
    /// may take as long as it needs; each piece must arrive within the request timeout.
    pub async fn export_audit(&self, query: &AuditQuery) -> Result<AuditExport, Error> {
        let request = self
            .route(Route::AuditExport)?
            .query(&query.pairs())
            .timeout(EXPORT_TIMEOUT);
        let response = self.respond(request).await?;
        let received = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !received.starts_with(NDJSON) {
            return Err(Error::ContentType {
                url: self.url(),
                expected: NDJSON,
                received: received.to_owned(),
            });
        }
        Ok(AuditExport {
            response,
            url: self.url(),
            stall_after: self.timeout,
        })
    }

    /// `GET /v1/audit/verify`: checks the chain (from its verified prefix when it is long)
    /// and compares the stored keys with it. A broken chain is a `200` with `valid: false`;
    /// one still being verified in the background, `status: pending`.
    pub async fn check_chain(&self) -> Result<Reply<ChainCheck>, Error> {
        self.call(Route::CheckChain, &[], None::<&()>).await
    }

    /// `GET /v1/audit/verify?full=true`: [`Client::check_chain`], and starts a whole
    /// re-verification from the start in the background (its progress in `full_check`).
    pub async fn check_chain_full(&self) -> Result<Reply<ChainCheck>, Error> {
        self.call(
            Route::CheckChain,
            &[("full", "true".to_owned())],
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/audit/verify`: [`Client::check_chain`], and proves the chain still extends
    /// `anchor` — a signed anchor as read from where it was kept, sent as it is (its
    /// signature covers its fields; the server checks them).
    pub async fn check_chain_against_anchor(
        &self,
        anchor: &serde_json::Value,
    ) -> Result<Reply<ChainCheck>, Error> {
        #[derive(Serialize)]
        struct AnchorCheck<'a> {
            anchor: &'a serde_json::Value,
        }
        let body = AnchorCheck { anchor };
        self.call(Route::CheckChainAgainstAnchor, &[], Some(&body))
            .await
    }

    /// `POST /v1/audit/anchor`: signs the chain's head now. Keep `raw` as it is: it is the
    /// anchor exactly as signed.
    pub async fn anchor(&self) -> Result<Reply<SignedAnchor>, Error> {
        let empty = serde_json::Map::new();
        self.call(Route::Anchor, &[], Some(&empty)).await
    }

    // Probes (no root key needed).

    /// `GET /healthz`: the process serves HTTP.
    pub async fn health(&self) -> Result<Reply<Probe>, Error> {
        self.call(Route::Health, &[], None::<&()>).await
    }

    /// `GET /readyz`: the process can reach its database (a `503` error otherwise).
    pub async fn ready(&self) -> Result<Reply<Probe>, Error> {
        self.call(Route::Ready, &[], None::<&()>).await
    }

    // Any request.

    /// A request to `path` (e.g. `/v1/keys?limit=5`, appended to the base URL as it is),
    /// carrying the root key if the client has one; send it with [`Client::send_raw`] or
    /// reqwest. For what the typed methods cannot send: malformed bodies, other methods,
    /// extra headers.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut base = self.base.clone();
        base.set_query(None);
        base.set_fragment(None);
        let url = format!("{}{path}", base.as_str().trim_end_matches('/'));
        self.authorize(self.http.request(method, url))
    }

    /// Sends `request` and returns the answer whatever its status; only a request that got
    /// no answer is an error.
    pub async fn send_raw(&self, request: RequestBuilder) -> Result<RawResponse, Error> {
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        Ok(RawResponse {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        route: Route<'_>,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Reply<T>, Error> {
        let mut request = self.route(route)?;
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.respond(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response.text().await.map_err(|e| self.transport(&e))?;
        let value = serde_json::from_str(&raw).map_err(|err| Error::Decode {
            url: self.url(),
            cause: err.to_string(),
        })?;
        Ok(Reply {
            status,
            headers,
            value,
            raw,
        })
    }

    /// A request for `route`, with the root key if any.
    fn route(&self, route: Route<'_>) -> Result<RequestBuilder, Error> {
        let url = endpoint(&self.base, &route.segments())?;
        Ok(self.authorize(self.http.request(route.method(), url)))
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match self
            .root_key
            .as_ref()
            .and_then(|key| authorization(key).ok())
        {
            Some(value) => request.header(AUTHORIZATION, value),
            None => request,
        }
    }

    /// Sends `request`: the response when its status says success, else the server's error.
    async fn respond(&self, request: RequestBuilder) -> Result<reqwest::Response, Error> {
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.map_err(|e| self.transport(&e))?;
        Err(ApiError::new(status, retry_after, body).into())
    }

    fn transport(&self, err: &reqwest::Error) -> Error {
        let kind = if err.is_timeout() {
            TransportKind::Timeout
        } else if err.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        Error::Transport {
            url: self.url(),
            kind,
            cause: root_cause(err),
        }
    }
}

/// Written by hand: no root key, no credentials in the URL.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url())
            .field("root_key", &self.root_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Shorter than the server's default idle timeout (5 s).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

impl ClientBuilder {
    /// The root key to present (`Authorization: Bearer …`, marked sensitive).
    pub fn root_key(mut self, root_key: SecretString) -> Self {
        self.root_key = Some(root_key);
        self
    }

    /// How long a request may take (default 60 s); for the audit export, how long the next
    /// piece may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` sent (default `keyward-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts the PEM CA certificate `pem` besides the usual roots, for a server whose
    /// certificate a private CA issued. Fails if `pem` is not a PEM certificate.
    pub fn add_root_certificate(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certificate = reqwest::Certificate::from_pem(pem).map_err(|err| {
            Error::Setup(format!("not a PEM CA certificate: {}", root_cause(&err)))
        })?;
        self.root_certificates.push(certificate);
        Ok(self)
    }

    /// The client. Fails if the root key cannot be sent in a header.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(key) = &self.root_key {
            authorization(key)?;
        }
        let mut http = reqwest::Client::builder();
        for certificate in self.root_certificates {
            http = http.add_root_certificate(certificate);
        }
        let http = http
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            // keyward closes a connection idle for 5 s (its default idle timeout); a pooled
            // connection kept longer could be reused just as the server closes it.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // A redirect could carry the root key somewhere else: refuse to follow any.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| Error::Setup(root_cause(&err)))?;
        Ok(Client {
            http,
            base: self.base,
            root_key: self.root_key,
            timeout: self.timeout,
        })
    }
}

/// Written by hand: no root key, no credentials in the URL.
impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &shown_url(&self.base))
            .field("root_key", &self.root_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

fn parse_base_url(raw: &str) -> Result<Url, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw.trim())
        .map_err(|err| invalid(format!("{err} (expected e.g. http://127.0.0.1:8080)")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://".to_owned()));
    }
    Ok(url)
}

/// The base URL with `segments` appended, each percent-encoded (an id cannot change the
/// path).
fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, Error> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| Error::InvalidUrl {
            url: shown_url(base),
            reason: "it cannot take a path".to_owned(),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// `Bearer <root key>`, marked sensitive so that reqwest and `Debug` never show it.
fn authorization(root_key: &SecretString) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", root_key.expose_secret()))
        .map_err(|_| Error::InvalidRootKey)?;
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

/// Plain http is fine on this machine; anywhere else a secret would travel in clear.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn debug_never_shows_the_root_key_or_url_credentials() {
        let client = Client::new(
            "https://user:hunter2@example.com",
            secret("kwroot_supersecret"),
        )
        .unwrap();
        let builder = Client::builder("https://user:hunter2@example.com")
            .unwrap()
            .root_key(secret("kwroot_supersecret"));
        let shown = format!("{client:?} {client:#?} {builder:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn root_key_header_is_sensitive_and_errors_do_not_echo_it() {
        let value = authorization(&secret("kwroot_abc")).unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer kwroot_abc");
        let err = Client::new("http://127.0.0.1:1", secret("kwroot_\u{7f}secret")).unwrap_err();
        assert!(matches!(err, Error::InvalidRootKey));
        assert!(!format!("{err} {err:?}").contains("secret"));
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

    #[test]
    fn shown_url_drops_credentials() {
        let url = parse_base_url("https://user:pass@example.com/").unwrap();
        assert_eq!(shown_url(&url), "https://example.com");
    }

    #[test]
    fn clear_text_only_off_this_machine() {
        let clear = |raw: &str| sends_secret_in_clear(&parse_base_url(raw).unwrap());
        assert!(!clear("http://127.0.0.1:8080"));
        assert!(!clear("http://localhost:8080"));
        assert!(!clear("http://[::1]:8080"));
        assert!(!clear("https://keys.example.com"));
        assert!(clear("http://keys.example.com"));
        assert!(clear("http://10.0.0.5:8080"));
        let anonymous = Client::anonymous("http://keys.example.com").unwrap();
        assert!(!anonymous.sends_root_key_in_clear(), "no key to send");
    }

    #[test]
    fn another_root_key_replaces_the_credential_only() {
        let bearer = |client: &Client| {
            let request = client.request(Method::GET, "/v1/keys").build().unwrap();
            request
                .headers()
                .get(AUTHORIZATION)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        let first = Client::new("http://127.0.0.1:8080", secret("kwroot_first")).unwrap();
        let second = first.with_root_key(secret("kwroot_second")).unwrap();
        let none = second.without_root_key();
        assert_eq!(bearer(&first).as_deref(), Some("Bearer kwroot_first"));
        assert_eq!(bearer(&second).as_deref(), Some("Bearer kwroot_second"));
        assert_eq!(bearer(&none), None);
        assert_eq!(second.url(), first.url());
        assert_eq!(none.timeout, first.timeout);
        let err = first
            .with_root_key(secret("kwroot_\u{7f}secret"))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRootKey));
        assert!(!format!("{err} {err:?}").contains("secret"));
    }

    #[test]
    fn raw_requests_append_the_path_to_the_base() {
        let client = Client::anonymous("https://example.com/keyward/?x=1").unwrap();
        let request = client
            .request(Method::GET, "/v1/keys?limit=5")
            .build()
            .unwrap();
        assert_eq!(
            request.url().as_str(),
            "https://example.com/keyward/v1/keys?limit=5"
        );
    }
}
