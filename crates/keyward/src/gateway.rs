//! `keyward gateway --config FILE`: opens the database as `serve` does, loads the core, and
//! runs `keyward-gateway`'s listener in front of the configured upstream; with `api_listen`
//! the same process also serves keyward's HTTP API (on a SQLite file, which one process owns,
//! that is how keys are managed while the gateway runs; on PostgreSQL `keyward serve` nodes
//! can do it instead, and the gateway follows their changes like any node).

use crate::commands::{self, Started};
use crate::{Listen, ServeConfig};
use anyhow::Context;
use keyward_gateway::{Gateway, GatewayConfig, GatewayLimits};
use keyward_server::serve_with;
use std::future::Future;
use std::path::Path;
use tokio::net::TcpListener;

/// The environment variable holding the gateway's root key (before `root_key_file`).
pub const ROOT_KEY_ENV: &str = "KEYWARD_GATEWAY_ROOT_KEY";

/// Everything `keyward gateway` runs with, parsed.
pub struct GatewayRun {
    /// The database and the API listener's limits, as for `keyward serve`.
    pub serve: ServeConfig,
    pub config: GatewayConfig,
    /// The root key verifications are made with (`keys:verify`).
    pub root_key: secrecy::SecretString,
}

/// Reads and parses the configuration file at `path`.
pub fn read_config(path: &Path) -> anyhow::Result<GatewayConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the gateway configuration {}", path.display()))?;
    GatewayConfig::parse(&text).with_context(|| format!("in {}", path.display()))
}

/// The gateway's root key: `from_env` (the environment variable), else the configuration's
/// `root_key_file`.
pub fn root_key(
    config: &GatewayConfig,
    from_env: Option<String>,
) -> anyhow::Result<secrecy::SecretString> {
    if let Some(key) = from_env.filter(|key| !key.trim().is_empty()) {
        return Ok(key.trim().to_owned().into());
    }
    let Some(path) = &config.root_key_file else {
        anyhow::bail!(
            "the gateway needs a root key with keys:verify: set {ROOT_KEY_ENV} or root_key_file"
        );
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the root key file {}", path.display()))?;
    Ok(text.trim().to_owned().into())
}

/// Runs the gateway on `listen` (and keyward's API on `api`, if given) until `shutdown`
/// resolves; then lets requests in flight finish, flushes usage counters and closes the
/// database as `serve` does.
pub async fn gateway(
    run: GatewayRun,
    listen: Listen,
    api: Option<Listen>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
    let api_listener = match api {
        Some(api) => Some(bind(api).await?),
        None => None,
    };
    let started: Started = commands::start(&run.serve).await?;
    let state = started.state.clone();
    let gateway = match Gateway::new(state.clone(), &run.root_key, run.config).await {
        Ok(gateway) => gateway,
        Err(e) => {
            started.database.close().await;
            return Err(e.into());
        }
    };
    tracing::info!(
        keys = state.key_count(),
        routes = gateway.config().routes.len(),
        upstream = %gateway.config().upstream,
        "keyward gateway listening on http://{}",
        listener.local_addr()?
    );
    started.run_in_background();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let stopping = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };
    let api_task = api_listener.map(|listener| {
        tracing::info!(
            "keyward API listening on http://{:?}",
            listener.local_addr().ok()
        );
        tokio::spawn(serve_with(
            listener,
            state.clone(),
            stopping(stopped.clone()),
            run.serve.limits,
        ))
    });
    let served = keyward_gateway::serve(
        listener,
        gateway,
        GatewayLimits::default(),
        stopping(stopped),
    )
    .await;
    if let Some(task) = api_task {
        match task.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the API listener failed"),
            Err(e) => tracing::error!(error = %e, "the API listener's task failed"),
            Ok(Ok(())) => {}
        }
    }
    started.finish().await;
    tracing::info!("keyward gateway stopped");
    Ok(served?)
}

async fn bind(listen: Listen) -> anyhow::Result<TcpListener> {
    Ok(match listen {
        Listen::Bound(listener) => listener,
        Listen::Address(address) => TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?,
    })
}
