//! The tower [`Layer`] and [`Service`]: each request is checked by [`KeywardAuth::check`]
//! before the inner service sees it; a refused request gets the refusal's answer and never
//! reaches the inner service.

use crate::auth::KeywardAuth;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Made by [`KeywardAuth::require`] or [`KeywardAuth::any_key`]; wraps a service in
/// [`RequireKey`].
#[derive(Clone, Debug)]
pub struct RequireKeyLayer {
    auth: KeywardAuth,
    permission: Option<Arc<str>>,
}

impl RequireKeyLayer {
    pub(crate) fn new(auth: KeywardAuth, permission: Option<String>) -> Self {
        Self {
            auth,
            permission: permission.map(Arc::from),
        }
    }
}

impl<S> Layer<S> for RequireKeyLayer {
    type Service = RequireKey<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireKey {
            inner,
            auth: self.auth.clone(),
            permission: self.permission.clone(),
        }
    }
}

/// A service that answers only requests whose key keyward accepts, with the
/// [`crate::VerifiedKey`] in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequireKey<S> {
    inner: S,
    auth: KeywardAuth,
    permission: Option<Arc<str>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireKey<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready answers this request; the clone waits for the
        // next `poll_ready` (tower's guidance for services that clone their inner service).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let permission = self.permission.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match auth.check(&mut parts, permission.as_deref()).await {
                Ok(verified) => {
                    parts.extensions.insert(verified);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(refusal.into_response(&auth.challenge())),
            }
        })
    }
}
