//! Starting `keyward::gateway::gateway` in process: a fresh SQLite file with one workspace
//! (made as `keyward init` makes it), the gateway and keyward's API on loopback listeners
//! bound first, threads named `kw-app-<id>` so the secret check reads its log.

use crate::helpers::in_process::config as serve_config;
use crate::helpers::log_capture::{self, AppLog, THREAD_PREFIX};
use crate::helpers::{assert_no_secret_in, create_workspace, Api};
use keyward::gateway::GatewayRun;
use keyward::Listen;
use keyward_gateway::GatewayConfig;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running gateway with its API.
pub struct GatewayApp {
    /// `http://127.0.0.1:<port>` of the gateway.
    pub url: String,
    /// keyward's API in the same process, with the workspace's root key.
    pub api: Api<'static>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    id: u64,
    log: Arc<AppLog>,
    shared_log_from: usize,
    _dir: TempDir,
}

/// The configuration text `toml` (routes, key header, …) with `upstream` filled in.
pub fn config(upstream: &str, toml: &str) -> GatewayConfig {
    GatewayConfig::parse(&format!("upstream = \"{upstream}\"\n{toml}")).expect("a valid config")
}

/// Starts the gateway with `config`, verifying as the workspace's first root key.
pub fn start(config: GatewayConfig) -> GatewayApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db_url = format!("sqlite://{}", dir.path().join("keyward.db").display());
    let workspace = create_workspace(&db_url, "Gateway workspace");
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let api = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", gateway.local_addr().expect("its address"));
    let api_url = format!("http://{}", api.local_addr().expect("its address"));
    let run = GatewayRun {
        serve: serve_config(&db_url, &[]),
        config,
        root_key: workspace.root_key.clone().into(),
    };
    let (id, log) = log_capture::register();
    let shared_log_from = log_capture::shared().len();
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
                let bound = |listener: std::net::TcpListener| -> anyhow::Result<Listen> {
                    listener.set_nonblocking(true)?;
                    Ok(Listen::Bound(tokio::net::TcpListener::from_std(listener)?))
                };
                keyward::gateway::gateway(run, bound(gateway)?, Some(bound(api)?), async move {
                    let _ = stop.await;
                })
                .await
            })
        })
        .expect("starting the gateway's thread");
    GatewayApp {
        url,
        api: Api::at(&api_url, Some(&workspace.root_key)),
        shutdown: Some(shutdown),
        thread: Some(thread),
        id,
        log,
        shared_log_from,
        _dir: dir,
    }
}

impl GatewayApp {
    /// `url` + `path` on the gateway.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for GatewayApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let finished = self.thread.take().map(std::thread::JoinHandle::join);
        log_capture::unregister(self.id);
        if std::thread::panicking() {
            return;
        }
        match finished {
            Some(Ok(Ok(()))) | None => {}
            Some(Ok(Err(e))) => panic!("the gateway failed: {e:#}"),
            Some(Err(_)) => panic!("the gateway's thread panicked"),
        }
        let log = String::from_utf8_lossy(&self.log.since(0)).into_owned();
        assert_no_secret_in("the gateway's trace log", &log);
        let shared = log_capture::shared().since(self.shared_log_from);
        assert_no_secret_in(
            "the trace log of threads no server owns",
            &String::from_utf8_lossy(&shared),
        );
    }
}
