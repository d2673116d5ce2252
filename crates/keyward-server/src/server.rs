//! The router and the serve loop. `router(state)` is a plain function, so tests can drive it
//! with `oneshot`; `serve` runs an already-bound listener until `shutdown` resolves, letting
//! in-flight requests finish.

use crate::client_addr::{ClientAddr, TrustedProxies};
use crate::conn_bodies::{BodyDeadline, DeadlineBody, TrackedBody};
use crate::conn_io::ConnIo;
use crate::connections::{AddressBucket, Connections, Registration};
use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::handlers::{
    advice, audit, health, import, keys, leaks, operations, policy, root_keys, verify, workspace,
};
use crate::headers::{with_security_headers, SECURITY_HEADERS};
use crate::observe;
use crate::openapi as document;
use crate::tls::{Stream, Tls};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use keyward_app::metrics::Metrics;
use keyward_app::Keyward;
use keyward_ui::UiConfig;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A request that takes longer than this is answered `408`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route with its documentation: the handlers and their `#[utoipa::path]` are
/// registered together, so the OpenAPI document cannot miss a route.
fn routes() -> OpenApiRouter<Keyward> {
    let (schemas, paths, report) = routes!(leaks::report);
    let leak_report = (
        schemas,
        paths,
        report.layer(axum::Extension(leaks::LeakLimiter::shared())),
    );
    let v1 = OpenApiRouter::new()
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::show, keys::update))
        .routes(routes!(keys::revoke))
        .routes(routes!(keys::rotate))
        .routes(routes!(import::import))
        .routes(routes!(verify::verify))
        .routes(leak_report)
        .routes(routes!(root_keys::create, root_keys::list))
        .routes(routes!(root_keys::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit::verify_chain, audit::verify_against_anchor))
        .routes(routes!(audit::anchor))
        .routes(routes!(workspace::show, workspace::update))
        .routes(routes!(policy::show, policy::update))
        .routes(routes!(advice::list))
        .routes(routes!(advice::show_settings, advice::update_settings))
        .routes(routes!(advice::dismiss));
    OpenApiRouter::with_openapi(document::base())
        .nest("/v1", v1)
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(operations::openapi_json))
        .routes(routes!(operations::metrics))
}

/// The OpenAPI document of [`router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = routes().split_for_parts();
    document::complete(api)
}

/// [`openapi`] as served and committed, made once.
pub(crate) fn openapi_document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| document::to_json(&openapi()))
}

/// The API and the dashboard (under `/ui`, cookies marked `Secure` only behind a TLS proxy
/// that says so); see [`router_with_ui`].
pub fn router(state: Keyward) -> Router {
    router_with_ui(state, UiConfig::default())
}

/// The API under `/v1`, health checks, the OpenAPI document and metrics, and the dashboard
/// under `/ui` served as `ui` says.
pub fn router_with_ui(state: Keyward, ui: UiConfig) -> Router {
    let metrics = Arc::clone(state.metrics());
    let dashboard = keyward_ui::router(state.clone(), ui);
    let (router, _) = routes().split_for_parts();
    let router = router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .nest("/ui", dashboard);
    with_common_layers(router, Some(metrics))
}

/// What every answer gets, whichever router gives it: the body limit, the time limit, the
/// request id, log line and latency metric (`observe.rs`; outside the time limit, so a `408`
/// is logged too) and the security headers.
pub(crate) fn with_common_layers(router: Router, metrics: Option<Arc<Metrics>>) -> Router {
    let mut router = router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(limit_time))
        .layer(middleware::from_fn_with_state(metrics, observe::observe));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}

/// `408` with a JSON body when a request takes longer than [`REQUEST_TIMEOUT`] or its body
/// missed its deadline ([`ServeLimits::body_read_timeout`], set by `serve`); the connection
/// closes after it, since the rest of the request was never read.
async fn limit_time(req: Request, next: Next) -> Response {
    let body_deadline = req.extensions().get::<BodyDeadline>().cloned();
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) if !body_deadline.is_some_and(|d| d.missed()) => response,
        _ => {
            let mut response = ApiError::RequestTimeout.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Connection-level limits of [`serve_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Most connections open at once. A newcomer beyond it closes the connection idle
    /// longest; when none is idle, the busy one open longest closes after its response, and
    /// the newcomer waits for it (further ones in the listen backlog).
    pub max_connections: usize,
    /// Most connections one client address (an IPv6 /64) holds at once. Beyond it, the
    /// address's own connection idle longest is closed; when none is idle, the newcomer is
    /// answered `503`.
    pub max_connections_per_address: usize,
    /// A client that has not sent a whole request head this long after the connection opened
    /// (or after the previous response) is disconnected: the slow-loris defence.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress this long is closed.
    pub idle_timeout: Duration,
    /// A request body must arrive whole this long after its head, or the answer is `408`.
    pub body_read_timeout: Duration,
    /// A connection open this long is closed once its request in flight is answered, so no
    /// client holds a slot for ever however it spaces its requests.
    pub max_connection_age: Duration,
    /// After the shutdown signal, connections still busy this much later are dropped.
    pub shutdown_grace: Duration,
}

impl ServeLimits {
    /// The per-address limit unless configured: a quarter of all connections, so that a
    /// single address never holds more than that.
    pub fn per_address_default(max_connections: usize) -> usize {
        (max_connections / 4).max(1)
    }
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_address: Self::per_address_default(1024),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(60),
            // One request timeout plus a margin: every in-flight request can finish.
            shutdown_grace: REQUEST_TIMEOUT + Duration::from_secs(5),
        }
    }
}

/// Connections refused for their address's limit that are answered `503` at once; beyond
/// this many, further ones are closed without an answer.
const MAX_REFUSALS_ANSWERED: usize = 64;

/// Runs `router(state)` on `listener` until `shutdown` completes; in-flight requests finish.
/// [`ServeLimits::default`] applies.
pub async fn serve(
    listener: TcpListener,
    state: Keyward,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, shutdown, ServeLimits::default()).await
}

/// [`serve`] with explicit connection limits.
///
/// A hand-written accept loop over hyper rather than `axum::serve`, which has neither a
/// header read timeout nor a connection limit. Each connection holds a semaphore permit and
/// a place in the [`Connections`] registry until it closes. A newcomer who finds every slot
/// (or its address's share) taken closes the connection idle longest instead of waiting
/// behind idle ones; with none idle, the busy connection open longest closes after its
/// response. A connection closes after its response once `max_connection_age` old. HTTP/1 request heads must arrive within `header_read_timeout`, bodies
/// within `body_read_timeout`, and an idle connection closes after `idle_timeout`. Handlers
/// see the peer address as `ConnectInfo<SocketAddr>` and the client's as `ClientAddr` (the
/// peer, or behind trusted proxies who they say it is; leak reports are limited per client).
/// On `shutdown` the loop stops accepting, idle connections close, and requests in flight are
/// answered before their connections close (up to `shutdown_grace`).
pub async fn serve_with(
    listener: TcpListener,
    state: Keyward,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown, limits).await
}

/// [`serve_with`] over `transport` (TLS, trusted proxies), with the dashboard served as `ui`
/// says.
pub async fn serve_with_transport(
    listener: TcpListener,
    state: Keyward,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
    transport: Transport,
    ui: UiConfig,
) -> std::io::Result<()> {
    serve_router_over(
        listener,
        router_with_ui(state, ui),
        shutdown,
        limits,
        transport,
    )
    .await
}

/// How connections are spoken to and who their clients are; the default is plain HTTP
/// with the peer as the client.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// HTTPS with this certificate (reloadable); `None`: plain HTTP.
    pub tls: Option<Tls>,
    /// Proxies whose `X-Forwarded-For` names the client (none: the peer is the client).
    pub trusted_proxies: TrustedProxies,
}

/// [`serve_with`] for any router (the [`crate::starting`] one while the database cannot be
/// reached yet).
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    serve_router_over(listener, app, shutdown, limits, Transport::default()).await
}

/// [`serve_router`] over `transport`. With TLS, the handshake runs in the connection's own
/// task, after it holds its slot, and must finish within the header timeout.
pub async fn serve_router_over(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
    transport: Transport,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_ANSWERED));
    let connections = Connections::new(limits.max_connections_per_address);
    // HTTP/1.1 only: hyper-util's auto (h1 + h2c) builder waits for the first 24 bytes to tell
    // the versions apart, with no timeout, so a silent client would hold its connection.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    'accept: loop {
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
        let Some(registration) = connections.admit(AddressBucket::of(peer.ip())) else {
            tracing::debug!("connection refused: its address holds its share, all busy");
            let tls = transport.tls.as_ref().map(Tls::acceptor);
            refuse(stream, tls, &refusals, &builder, limits.header_read_timeout);
            continue;
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            // Every slot is taken: the connection idle longest makes room. With none idle,
            // wait for a connection to close or to become idle; meanwhile further clients
            // wait in the listen backlog.
            Err(_) => {
                tracing::debug!("every connection slot is taken: making room");
                loop {
                    let became_idle = connections.idle_notified();
                    tokio::pin!(became_idle);
                    became_idle.as_mut().enable();
                    connections.make_room();
                    tokio::select! {
                        permit = Arc::clone(&permits).acquire_owned() => match permit {
                            Ok(permit) => break permit,
                            // The semaphore is never closed.
                            Err(_) => break 'accept,
                        },
                        () = became_idle => {}
                        () = &mut shutdown => break 'accept,
                    }
                }
            }
        };
        connections.stop_waiting_for_idle();
        registration.start();
        let activity = Arc::clone(&registration.activity);
        let response_activity = Arc::clone(&activity);
        let body_read_timeout = limits.body_read_timeout;
        let proxies = transport.trusted_proxies.clone();
        let service = app
            .clone()
            .map_request(move |req: Request<Incoming>| {
                activity.request_dispatched();
                let deadline = BodyDeadline::default();
                let until = tokio::time::Instant::now() + body_read_timeout;
                let body_deadline = deadline.clone();
                let mut req = req.map(|body| DeadlineBody::new(body, until, body_deadline));
                let client = proxies.client(peer.ip(), req.headers());
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(ClientAddr(client));
                req.extensions_mut().insert(deadline);
                req
            })
            .map_response(move |res: Response| {
                res.map(|body| TrackedBody::new(body, Arc::clone(&response_activity)))
            });
        let tls = transport.tls.as_ref().map(Tls::acceptor);
        let header_read_timeout = limits.header_read_timeout;
        let builder = builder.clone();
        let idle_timeout = limits.idle_timeout;
        let too_old_at = tokio::time::Instant::now() + limits.max_connection_age;
        tokio::spawn(async move {
            let Some(stream) = Stream::accept(stream, tls, header_read_timeout).await else {
                drop(registration);
                drop(permit);
                return;
            };
            let io = TokioIo::new(ConnIo::new(stream, Arc::clone(&registration.activity)));
            let connection = builder.serve_connection(io, TowerToHyperService::new(service));
            tokio::pin!(connection);
            let mut closing = false;
            loop {
                let wake = idle_check_at(&registration, idle_timeout);
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            // Client resets and header timeouts end here; nothing the server
                            // can act on.
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = registration.close.notified(), if !closing => {
                        // Shed for a newcomer or shutting down: an idle connection closes
                        // now, a request in progress is answered first.
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    () = tokio::time::sleep_until(too_old_at), if !closing => {
                        // Old enough: closes after the request in flight, if any.
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    () = tokio::time::sleep_until(wake), if !closing => {
                        let idle = registration.activity.idle_for(tokio::time::Instant::now());
                        if idle.is_some_and(|idle| idle >= idle_timeout) {
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            }
            // Out of the registry before the slot is free, so a newcomer waiting for the slot
            // counts what is really open.
            drop(registration);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    connections.close_all();
    if tokio::time::timeout(limits.shutdown_grace, connections.all_closed())
        .await
        .is_err()
    {
        tracing::warn!("connections still busy after the shutdown grace period were dropped");
    }
    Ok(())
}

/// When the connection could next have been idle for `idle_timeout`.
fn idle_check_at(registration: &Registration, idle_timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let left = registration
        .activity
        .idle_for(now)
        .map_or(idle_timeout, |idle| idle_timeout.saturating_sub(idle));
    now + left
}

/// Answers a connection over its address's limit with `503` and closes it; past
/// [`MAX_REFUSALS_ANSWERED`] refusals in progress, closes it at once.
fn refuse(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    refusals: &Arc<Semaphore>,
    builder: &http1::Builder,
    handshake_timeout: Duration,
) {
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    let mut builder = builder.clone();
    builder.keep_alive(false);
    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
        Ok::<_, Infallible>(with_security_headers(
            ApiError::TooManyConnections.into_response(),
        ))
    });
    tokio::spawn(async move {
        if let Some(stream) = Stream::accept(stream, tls, handshake_timeout).await {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
        drop(permit);
    });
}
