//! [`KeywardAuth`]: the layer's settings (which keyward, where the key is, what context to
//! send, an optional cache) and the one check every protected request goes through.

use crate::cache::{PositiveCache, Question};
use crate::layer::RequireKeyLayer;
use crate::refusal::{Challenge, Refusal};
use crate::request::{self, AuditContext, KeySource};
use crate::verified::VerifiedKey;
use http::request::Parts;
use http::HeaderName;
use keyward_client::api::{VerifyCode, VerifyRequest, VerifyResponse};
use keyward_client::{Client, Error};
use secrecy::ExposeSecret;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long a request waits for keyward's answer by default before it is refused.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

type ClientIp = dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync;
type Describe = dyn Fn(&Parts) -> AuditContext + Send + Sync;

/// Checks API keys with keyward: build one with [`KeywardAuth::builder`], then protect each
/// route with [`KeywardAuth::require`] (or [`KeywardAuth::any_key`]). Cheap to clone; every
/// clone shares the client's connection pool and the cache.
#[derive(Clone)]
pub struct KeywardAuth {
    inner: Arc<Settings>,
}

struct Settings {
    client: Client,
    source: KeySource,
    client_ip: Box<ClientIp>,
    describe: Box<Describe>,
    cache: Option<PositiveCache>,
    timeout: Duration,
}

/// Options of a [`KeywardAuth`].
pub struct KeywardAuthBuilder {
    settings: Settings,
}

impl KeywardAuth {
    /// Settings over `client`, a [`Client`] holding a root key with the `keys:verify` right.
    /// By default the key is read from `Authorization: Bearer …`, the client IP from axum's
    /// `ConnectInfo`, the action and resource are the method and the path, a request waits
    /// at most 5 s for keyward, and nothing is cached.
    pub fn builder(client: Client) -> KeywardAuthBuilder {
        KeywardAuthBuilder {
            settings: Settings {
                client,
                source: KeySource::Bearer,
                client_ip: Box::new(request::connection_ip),
                describe: Box::new(AuditContext::from_method_and_path),
                cache: None,
                timeout: VERIFY_TIMEOUT,
            },
        }
    }

    /// A layer that lets a request through only if its key holds `permission` — one
    /// permission (`invoices:delete`) or an expression (`invoices:read AND payroll:read`).
    /// Add it with axum's `route_layer`, so a path no route matches stays a `404`.
    pub fn require(&self, permission: impl Into<String>) -> RequireKeyLayer {
        RequireKeyLayer::new(self.clone(), Some(permission.into()))
    }

    /// A layer that lets a request through with any valid key, whatever its permissions.
    pub fn any_key(&self) -> RequireKeyLayer {
        RequireKeyLayer::new(self.clone(), None)
    }

    /// Checks the request whose head is `parts` for `permission`: the key is taken out of the
    /// headers; the answer is the verified key, or the refusal to send instead of calling the
    /// handler. Fails closed: no answer from keyward, or one the layer does not understand,
    /// is [`Refusal::Unavailable`].
    pub async fn check(
        &self,
        parts: &mut Parts,
        permission: Option<&str>,
    ) -> Result<VerifiedKey, Refusal> {
        let settings = &self.inner;
        let key = settings
            .source
            .take(&mut parts.headers)
            .ok_or(Refusal::MissingKey)?;
        let ip = (settings.client_ip)(parts).map(|ip| ip.to_string());
        let (origin, user_agent) = request::origin_and_user_agent(&parts.headers);
        let question = Question {
            key: &key,
            permission,
            ip: ip.as_deref(),
            origin: origin.as_deref(),
        };
        if let Some(cached) = settings.cache.as_ref().and_then(|c| c.get(&question)) {
            return Ok(cached);
        }
        let context = (settings.describe)(parts);
        let asked = VerifyRequest {
            key: key.expose_secret().to_owned(),
            permission: permission.map(str::to_owned),
            ip: ip.clone(),
            origin: origin.clone(),
            action: context.action.as_deref().and_then(request::audit_text),
            resource: context.resource.as_deref().and_then(request::audit_text),
            user_agent,
            cost: None,
        };
        let answer = self.ask(&asked).await?;
        if !answer.valid || answer.code != VerifyCode::Valid {
            let reset = answer
                .rate_limit
                .as_ref()
                .map(|limit| Duration::from_millis(limit.reset_after_ms));
            return Err(Refusal::from_code(answer.code, permission, reset));
        }
        let rate_limited = answer.rate_limit.is_some();
        let Some(verified) = VerifiedKey::from_answer(answer) else {
            tracing::warn!("keyward answered VALID without the key's id or name; refusing");
            return Err(Refusal::unavailable(None));
        };
        if let Some(cache) = &settings.cache {
            cache.keep(&question, &verified, rate_limited);
        }
        Ok(verified)
    }

    /// keyward's answer to `asked`, within the layer's timeout.
    async fn ask(&self, asked: &VerifyRequest) -> Result<VerifyResponse, Refusal> {
        let timeout = self.inner.timeout;
        match tokio::time::timeout(timeout, self.inner.client.verify(asked)).await {
            Ok(Ok(reply)) => Ok(reply.into_value()),
            Ok(Err(error)) => Err(unavailable(&error)),
            Err(_) => {
                tracing::warn!(
                    ?timeout,
                    "keyward did not answer a verification in time; refusing the request"
                );
                Err(Refusal::unavailable(None))
            }
        }
    }

    pub(crate) fn challenge(&self) -> Challenge {
        self.inner.source.challenge()
    }
}

/// keyward could not be asked: logged once here (the client's errors carry no key and no
/// root key), answered as `503`.
fn unavailable(error: &Error) -> Refusal {
    tracing::warn!(%error, "cannot verify an API key with keyward; refusing the request");
    Refusal::unavailable(error.api().and_then(|api| api.retry_after))
}

impl KeywardAuthBuilder {
    /// Read the key from the whole value of `header` (e.g. `x-api-key`) instead of
    /// `Authorization: Bearer …`. The header is removed before the handler runs.
    pub fn key_header(mut self, header: HeaderName) -> Self {
        self.settings.source = KeySource::Header(header);
        self
    }

    /// How to find the client's IP address, which keyward checks against a key's IP
    /// allowlist and records. The default is the connection's peer address (axum's
    /// `ConnectInfo<SocketAddr>`); behind a proxy, read the address it forwards — and only
    /// from a proxy you trust, since a client can send any header.
    pub fn client_ip<F>(mut self, client_ip: F) -> Self
    where
        F: Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.settings.client_ip = Box::new(client_ip);
        self
    }

    /// What the audit trail records as the request's action and resource (default:
    /// [`AuditContext::from_method_and_path`]). Text keyward does not accept in the audit
    /// trail (control characters, over 512 characters) is fitted, not refused.
    pub fn audit_context<F>(mut self, describe: F) -> Self
    where
        F: Fn(&Parts) -> AuditContext + Send + Sync + 'static,
    {
        self.settings.describe = Box::new(describe);
        self
    }

    /// How long a request waits for keyward's answer before it is refused with `503`
    /// (default 5 s; the client's own timeout applies too).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Cache positive answers in `cache` (off by default). A revoked key is then accepted
    /// for up to the cache's time to live, and cached requests are not in the audit trail;
    /// see [`PositiveCache`].
    pub fn cache(mut self, cache: PositiveCache) -> Self {
        self.settings.cache = Some(cache);
        self
    }

    /// The settings.
    pub fn build(self) -> KeywardAuth {
        KeywardAuth {
            inner: Arc::new(self.settings),
        }
    }
}

/// Written by hand: the closures have no `Debug`; the client shows no root key.
impl fmt::Debug for KeywardAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeywardAuth")
            .field("client", &self.inner.client)
            .field("source", &self.inner.source)
            .field("cache", &self.inner.cache)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for KeywardAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeywardAuthBuilder")
            .field("client", &self.settings.client)
            .field("source", &self.settings.source)
            .finish_non_exhaustive()
    }
}
