//! Forwarding to the upstream: one pooled HTTP/1 client (hyper-util's), the request and
//! response bodies streamed both ways without buffering, and the wait for the response head
//! bounded by the configured timeout, so a stuck upstream is a `504`, never a hang.

use crate::answer::Refusal;
use http::uri::{PathAndQuery, Uri};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How long an idle pooled connection to the upstream is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The upstream and the pooled client that reaches it.
pub struct Upstream {
    client: Client<HttpConnector, Incoming>,
    base: Uri,
    timeout: Duration,
}

impl Upstream {
    /// A client for `base` (scheme and authority); `timeout` bounds connecting and the wait
    /// for each response head.
    pub fn new(base: Uri, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Self {
            client,
            base,
            timeout,
        }
    }

    /// Sends `request` (its headers already prepared) to the upstream at the same path and
    /// query; `502` if the upstream cannot be reached or breaks the exchange, `504` if its
    /// response head does not arrive within the timeout.
    pub async fn forward(&self, request: Request<Incoming>) -> Result<Response<Incoming>, Refusal> {
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut uri = Uri::builder().path_and_query(path);
        if let Some(scheme) = self.base.scheme() {
            uri = uri.scheme(scheme.clone());
        }
        if let Some(authority) = self.base.authority() {
            uri = uri.authority(authority.clone());
        }
        parts.uri = uri.build().map_err(|_| Refusal::Internal)?;
        // The upstream always gets HTTP/1.1, whatever the client spoke.
        parts.version = http::Version::HTTP_11;
        let request = Request::from_parts(parts, body);
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, connect = e.is_connect(), "the upstream request failed");
                Err(Refusal::UpstreamFailed)
            }
            Err(_) => {
                tracing::warn!(
                    timeout_secs = self.timeout.as_secs(),
                    "the upstream did not answer in time"
                );
                Err(Refusal::UpstreamTimeout)
            }
        }
    }
}
