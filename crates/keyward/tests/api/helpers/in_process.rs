//! An in-process server: `keyward::serve`, the function `keyward serve` runs, on a loopback
//! listener bound before it starts, with its own runtime on threads named
//! `kw-app-<id>` (so [`super::log_capture`] can tell its log lines from others'). Stopping it
//! is the graceful shutdown SIGTERM starts in the binary.

use super::log_capture::THREAD_PREFIX;
use keyward::{Listen, ServeConfig};
use keyward_server::ServeLimits;
use std::time::Duration;
use tokio::sync::oneshot;

/// A running in-process server.
pub struct InProcess {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

/// The configuration `keyward serve --database-url <url>` would run with, given the
/// `KEYWARD_*` variables in `env` (the ones the suite sets). Like a spawned server, it takes
/// `KEYWARD_REDIS_URL` from the suite's own environment.
pub fn config(db_url: &str, env: &[(String, String)]) -> ServeConfig {
    let mut config = ServeConfig::new(db_url);
    config.redis_url = std::env::var("KEYWARD_REDIS_URL").ok();
    let secs = |value: &str| Duration::from_secs(value.parse::<u64>().unwrap().max(1));
    let mut per_address = None;
    for (name, value) in env {
        match name.as_str() {
            "KEYWARD_MAX_CONNECTIONS" => config.limits.max_connections = value.parse().unwrap(),
            "KEYWARD_MAX_CONNECTIONS_PER_ADDRESS" => per_address = Some(value.parse().unwrap()),
            "KEYWARD_HEADER_TIMEOUT_SECS" => config.limits.header_read_timeout = secs(value),
            "KEYWARD_IDLE_TIMEOUT_SECS" => config.limits.idle_timeout = secs(value),
            "KEYWARD_BODY_TIMEOUT_SECS" => config.limits.body_read_timeout = secs(value),
            "KEYWARD_MAX_CONNECTION_AGE_SECS" => config.limits.max_connection_age = secs(value),
            "KEYWARD_ANCHOR_INTERVAL_SECS" => config.anchor_interval = secs(value),
            "KEYWARD_AUDIT_JOURNAL" => config.audit_journal = Some(value.into()),
            "KEYWARD_TRUSTED_PROXIES" => {
                config.trusted_proxies = value.split(',').map(|n| n.parse().unwrap()).collect();
            }
            other => panic!("the in-process harness does not know {other}; add it here"),
        }
    }
    config.limits.max_connections_per_address = per_address
        .unwrap_or_else(|| ServeLimits::per_address_default(config.limits.max_connections));
    config
}

impl InProcess {
    /// Starts serving `config` on `listener` on threads named `kw-app-<id>`.
    pub fn start(id: u64, config: ServeConfig, listener: std::net::TcpListener) -> Self {
        let (shutdown, stop) = oneshot::channel::<()>();
        let name = format!("{THREAD_PREFIX}{id}");
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(name)
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    listener.set_nonblocking(true)?;
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    keyward::serve(config, Listen::Bound(listener), async move {
                        let _ = stop.await;
                    })
                    .await
                })
            })
            .expect("starting the server's thread");
        Self {
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Whether `serve` has returned (it failed to start, or it stopped).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Graceful shutdown, as on SIGTERM: waits for `serve` to return; whether it succeeded
    /// (its error is printed for the failing test).
    pub fn stop(mut self) -> bool {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Ok(()))) | None => true,
            Some(Ok(Err(e))) => {
                eprintln!("keyward::serve failed: {e:#}");
                false
            }
            Some(Err(_)) => false,
        }
    }
}
