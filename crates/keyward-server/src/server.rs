//! The router and the serve loop. `router(state)` is a plain function, so tests can drive it
//! with `oneshot`; `serve` runs an already-bound listener until `shutdown` resolves, letting
//! in-flight requests finish.

use crate::error::ApiError;
use crate::handlers::{audit, health, keys, leaks, policy, root_keys, verify, workspace};
use crate::state::AppState;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted; larger ones get `413`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request that takes longer than this is answered `408`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/keys", post(keys::create).get(keys::list))
        .route("/keys/{id}", get(keys::show).patch(keys::update))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/keys/{id}/rotate", post(keys::rotate))
        .route("/verify", post(verify::verify))
        .route(
            "/leaks",
            post(leaks::report).layer(axum::Extension(leaks::LeakLimiter::shared())),
        )
        .route("/root-keys", post(root_keys::create).get(root_keys::list))
        .route("/root-keys/{id}/revoke", post(root_keys::revoke))
        .route("/audit", get(audit::list))
        .route("/audit/export", get(audit::export))
        .route(
            "/audit/verify",
            get(audit::verify_chain).post(audit::verify_against_anchor),
        )
        .route("/audit/anchor", post(audit::anchor))
        .route("/workspace", get(workspace::show).patch(workspace::update))
        .route("/policy", get(policy::show).put(policy::update));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Responses may carry a key or a key's details: never cache them anywhere.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// One log line per request: method, route template, status, duration. Never headers or
/// bodies, which carry keys.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    tracing::trace!(%method, %route, "request started");
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::warn!(%method, %route, status, micros, "request");
    } else {
        tracing::debug!(%method, %route, status, micros, "request");
    }
    response.into_response()
}

/// Connection-level limits of [`serve_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Most connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// A client that has not sent a whole request head this long after the connection opened
    /// (or after the previous response) is disconnected: the slow-loris defence.
    pub header_read_timeout: Duration,
    /// After the shutdown signal, connections still busy this much later are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            // One request timeout plus a margin: every in-flight request can finish.
            shutdown_grace: REQUEST_TIMEOUT + Duration::from_secs(5),
        }
    }
}

/// Runs `router(state)` on `listener` until `shutdown` completes; in-flight requests finish.
/// [`ServeLimits::default`] applies.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, shutdown, ServeLimits::default()).await
}

/// [`serve`] with explicit connection limits.
///
/// A hand-written accept loop over hyper-util rather than `axum::serve`, which has neither a
/// header read timeout nor a connection limit: each accepted connection holds a semaphore
/// permit until it closes, HTTP/1 request heads must arrive within `header_read_timeout`, and
/// handlers see the peer address as `ConnectInfo<SocketAddr>` (leak reports are limited per
/// address). On `shutdown` the loop stops accepting, idle connections close, and requests in
/// flight are answered before their connections close (up to `shutdown_grace`).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    let app = router(state);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // HTTP/1.1 only: hyper-util's auto (h1 + h2c) builder waits for the first 24 bytes to tell
    // the versions apart, with no timeout, so a silent client would hold its connection.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Client resets and header timeouts end here; nothing the server can act on.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still busy after the shutdown grace period were dropped");
    }
    Ok(())
}
