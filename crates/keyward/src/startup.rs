//! Starting while the database cannot be reached: a node of a multi-node deployment is often
//! started (or restarted by its orchestrator) while its database server is down or not yet
//! reachable. Instead of exiting, it listens at once with the `starting` router (alive on
//! `/healthz`, `503 not_ready` everywhere else) and tries again every second until the
//! database answers, then hands the same socket to the real server.

use keyward_core::StoreError;
use keyward_server::starting::starting_router;
use keyward_server::{serve_router_over, ServeLimits, Transport};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// Time between attempts to reach the database. An attempt itself is bounded by the store:
/// every PostgreSQL call gives up within its `keyward_postgres::Timeouts` (3 s to connect,
/// 120 s to read every key), so a black-holed connection cannot hold the start forever, and
/// a large index is not cut short.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Whether starting failed because the database could not be reached (worth retrying), as
/// opposed to a refusal that retrying cannot change (a journal in use, a bad file).
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StoreError>(),
            Some(StoreError::Unavailable(_))
        ) || cause
            .downcast_ref::<tokio::time::error::Elapsed>()
            .is_some()
    })
}

/// Runs `open` until it succeeds. With `wait` set (a database server, which comes and goes
/// independently of the node), a failure [`is_unreachable`] is retried every
/// [`RETRY_INTERVAL`] while `listener` answers with the `starting` router; any other failure,
/// or any failure without `wait`, is returned at once. `None` if `stop` turned true first.
pub async fn open_or_wait<T, F, Fut>(
    listener: &TcpListener,
    limits: ServeLimits,
    wait: bool,
    open: F,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    open_or_wait_over(listener, limits, Transport::default(), wait, open, stop).await
}

/// [`open_or_wait`], the `starting` router served over `transport` (HTTPS when the server
/// will be).
pub async fn open_or_wait_over<T, F, Fut>(
    listener: &TcpListener,
    limits: ServeLimits,
    transport: Transport,
    wait: bool,
    mut open: F,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    match open().await {
        Ok(opened) => return Ok(Some(opened)),
        Err(e) if wait && is_unreachable(&e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot reach the database; not ready, retrying every second");
        }
        Err(e) => return Err(e),
    }
    // A second handle on the same socket: the starting server's copy closes when it stops,
    // the socket stays open for the real server, and no connection attempt is refused.
    let copy = TcpListener::from_std(listener_copy(listener)?)?;
    let (done, done_signal) = oneshot::channel::<()>();
    let scheme = if transport.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let starting = tokio::spawn(serve_router_over(
        copy,
        starting_router(),
        async move {
            let _ = done_signal.await;
        },
        limits,
        transport,
    ));
    tracing::info!(
        "keyward listening on {scheme}://{} (not ready: waiting for its database)",
        listener.local_addr()?
    );
    let outcome = loop {
        tokio::select! {
            () = tokio::time::sleep(RETRY_INTERVAL) => {}
            _ = stop.wait_for(|stopped| *stopped) => break Ok(None),
        }
        match open().await {
            Ok(opened) => {
                tracing::info!("the database answers; starting");
                break Ok(Some(opened));
            }
            Err(e) if is_unreachable(&e) => {
                tracing::debug!(error = %format!("{e:#}"), "the database is still unreachable");
            }
            Err(e) => break Err(e),
        }
    };
    let _ = done.send(());
    match starting.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the starting server ended with an error"),
        Err(e) => tracing::warn!(error = %e, "the starting server's task failed"),
    }
    outcome
}

/// `dup(2)` of the listening socket, through the standard library (no `unsafe`).
#[cfg(unix)]
fn listener_copy(listener: &TcpListener) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::AsFd;
    let copy = std::net::TcpListener::from(listener.as_fd().try_clone_to_owned()?);
    copy.set_nonblocking(true)?;
    Ok(copy)
}

#[cfg(not(unix))]
fn listener_copy(_: &TcpListener) -> std::io::Result<std::net::TcpListener> {
    Err(std::io::Error::other(
        "waiting for the database while listening needs a Unix socket to share",
    ))
}
