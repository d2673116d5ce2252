//! One request through the gateway: find the route (`404` without one), refuse an upgrade,
//! read the key, verify it through the application core (`Keyward::verify`, the path
//! `POST /v1/verify` takes: the index, `decide`, the rate limit, credits, the durable audit
//! event with the method as action and the path as resource), then forward with the key
//! stripped and the verified key named.

use crate::answer::Refusal;
use crate::body::{self, GatewayBody};
use crate::client_ip::client_ip;
use crate::config::{Access, GatewayConfig, KeyHeader};
use crate::headers;
use crate::proxy::Upstream;
use http::header::{CONNECTION, ORIGIN, UPGRADE, USER_AGENT};
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use keyward_app::fields::RequestContext;
use keyward_app::rights::KeysVerify;
use keyward_app::{AppError, Keyward, VerifyInput};
use keyward_core::{KeyHash, KeyRecord, PermissionQuery, VerifyCode};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::sync::Arc;

/// Why the gateway cannot start with the root key it was given.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway's root key is unknown or revoked")]
    UnknownRootKey,
    #[error("the gateway's root key lacks the right keys:verify")]
    CannotVerify,
}

/// The gateway: cheap to clone (one `Arc`), one per connection.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

struct Inner {
    app: Keyward,
    /// The digest of the root key verifications are made as; looked up on every request, so
    /// revoking that root key stops the gateway at once (`503`).
    root: KeyHash,
    config: GatewayConfig,
    upstream: Upstream,
}

impl Gateway {
    /// A gateway verifying as the root key `root_key` (which must hold `keys:verify`: the
    /// verifications are made in its workspace and recorded with it as the actor).
    pub async fn new(
        app: Keyward,
        root_key: &SecretString,
        config: GatewayConfig,
    ) -> Result<Self, GatewayError> {
        let root = KeyHash::of(root_key.expose_secret().trim());
        let principal = app
            .authenticate(&root)
            .await
            .ok_or(GatewayError::UnknownRootKey)?;
        principal
            .authorize::<KeysVerify>()
            .map_err(|_| GatewayError::CannotVerify)?;
        let upstream = Upstream::new(config.upstream.clone(), config.timeout);
        Ok(Self(Arc::new(Inner {
            app,
            root,
            config,
            upstream,
        })))
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }

    /// Answers one request from `peer`: the upstream's answer, or the gateway's refusal.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<GatewayBody> {
        match self.pass(request, peer).await {
            Ok(response) => response,
            Err(refusal) => refusal.response(),
        }
    }

    async fn pass(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<GatewayBody>, Refusal> {
        let config = &self.0.config;
        let access = config
            .routes
            .find(request.method(), request.uri().path())
            .ok_or(Refusal::NoRoute)?;
        if is_upgrade(request.headers()) {
            return Err(Refusal::UpgradeRefused);
        }
        let trusted_peer = config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&peer.ip()));
        let client = client_ip(peer.ip(), request.headers(), &config.trusted_proxies);
        let key = match access {
            Access::Public => None,
            Access::Key(required) => Some(self.verify(&request, required.as_ref(), client).await?),
        };
        headers::for_upstream(
            request.headers_mut(),
            config.key_header.name(),
            peer.ip(),
            trusted_peer,
            key.as_deref(),
        );
        let mut response = self.0.upstream.forward(request).await?;
        headers::drop_hop_by_hop(response.headers_mut());
        Ok(response.map(body::streamed))
    }

    /// The verified key of `request`, or why it is refused.
    async fn verify(
        &self,
        request: &Request<Incoming>,
        required: Option<&PermissionQuery>,
        client: std::net::IpAddr,
    ) -> Result<Arc<KeyRecord>, Refusal> {
        let app = &self.0.app;
        let key = presented_key(request.headers(), &self.0.config.key_header)
            .ok_or(Refusal::MissingKey)?;
        let Some(principal) = app.authenticate(&self.0.root).await else {
            tracing::error!("the gateway's root key is unknown or revoked: refusing every request");
            return Err(Refusal::Unavailable);
        };
        let caller = principal.authorize::<KeysVerify>().map_err(|_| {
            tracing::error!("the gateway's root key lacks keys:verify: refusing every request");
            Refusal::Unavailable
        })?;
        let text = |name| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let context = RequestContext::parse(
            Some(request.method().as_str().to_owned()),
            Some(request.uri().path().to_owned()),
            Some(client.to_string()),
            text(ORIGIN),
            text(USER_AGENT),
        )
        .map_err(|_| Refusal::BadRequest)?;
        let input = VerifyInput {
            key,
            required: required.cloned(),
            context,
            cost: 1,
        };
        let verification = app.verify(&caller, input).await.map_err(|e| match e {
            AppError::Invalid(_) => Refusal::BadRequest,
            AppError::Unavailable(_) | AppError::NotReady(_) | AppError::Store(_) => {
                tracing::warn!(error = %e, "verification unavailable");
                Refusal::Unavailable
            }
            other => {
                tracing::error!(error = %other, "verification failed");
                Refusal::Internal
            }
        })?;
        match (verification.code, verification.key) {
            (VerifyCode::Valid, Some(key)) => Ok(key),
            (VerifyCode::RateLimited, _) => {
                let retry_after_secs = verification
                    .rate_limit
                    .map(|limit| {
                        let millis = (limit.reset - verification.at).num_milliseconds().max(0);
                        u64::try_from(millis).unwrap_or(0).div_ceil(1000)
                    })
                    .unwrap_or(1);
                Err(Refusal::RateLimited { retry_after_secs })
            }
            (code, _) => Err(Refusal::Key(code)),
        }
    }
}

/// The key a request presents: `Authorization: Bearer <key>`, or the configured header's
/// whole value. Empty or not text: no key.
fn presented_key(headers: &HeaderMap, header: &KeyHeader) -> Option<SecretString> {
    let value = headers.get(header.name())?.to_str().ok()?.trim();
    let key = match header {
        KeyHeader::Bearer => {
            let (scheme, token) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            token.trim()
        }
        KeyHeader::Named(_) => value,
    };
    (!key.is_empty()).then(|| SecretString::from(key.to_owned()))
}

/// A request asking to switch protocols (WebSocket), which the gateway refuses.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        || headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::HeaderName::try_from(name).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn the_key_is_read_from_a_bearer_token_or_the_configured_header() {
        let bearer = presented_key(
            &with("authorization", "bearer  bos_abc "),
            &KeyHeader::Bearer,
        );
        assert_eq!(bearer.unwrap().expose_secret(), "bos_abc");
        assert!(presented_key(&with("authorization", "Basic Zm9v"), &KeyHeader::Bearer).is_none());
        assert!(presented_key(&with("authorization", "Bearer "), &KeyHeader::Bearer).is_none());
        let named = KeyHeader::Named(http::header::HeaderName::from_static("x-api-key"));
        assert_eq!(
            presented_key(&with("x-api-key", "bos_abc"), &named)
                .unwrap()
                .expose_secret(),
            "bos_abc"
        );
        assert!(presented_key(&with("authorization", "Bearer bos_abc"), &named).is_none());
    }

    #[test]
    fn websocket_handshakes_are_recognised() {
        assert!(is_upgrade(&with("upgrade", "websocket")));
        assert!(is_upgrade(&with("connection", "keep-alive, Upgrade")));
        assert!(!is_upgrade(&with("connection", "keep-alive")));
    }
}
