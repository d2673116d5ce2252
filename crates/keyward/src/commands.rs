//! The server-side commands, wired from the crates below: `serve` (open the database and its
//! audit journal, hand the first root key of an empty database to a file, build the state,
//! bind, serve until shutdown, then leave the database complete), `init` (a workspace and its
//! first root key) and `root-key create` (operator recovery, in [`crate::recovery`]).

use crate::database::{self, Purpose};
use crate::recovery::{self, RootKeyCommand};
use crate::secret_file::Destination;
use crate::startup;
use anyhow::Context;
use ipnet::IpNet;
use keyward_app::bootstrap::{self, NewWorkspace};
use keyward_app::follow::Following;
use keyward_app::snapshot::{self, SnapshotWriter};
use keyward_app::SystemClock;
use keyward_app::{anchors, limits::RateLimiter, maintenance, Keyward};
use keyward_core::{Clock, Store, Workspace};
use keyward_postgres::PostgresStore;
use keyward_server::{serve_with_transport, ServeLimits, Tls, Transport, TrustedProxies, UiConfig};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Everything `keyward serve` is configured with, parsed.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database_url: String,
    /// Rate-limit counters in Redis (`None`: in memory).
    pub redis_url: Option<String>,
    pub limits: ServeLimits,
    /// The audit journal's directory (`None`: beside the database file).
    pub audit_journal: Option<PathBuf>,
    /// The new file for the first root key of an empty database (`None`: beside the
    /// database file).
    pub root_key_file: Option<PathBuf>,
    pub anchor_key: Option<PathBuf>,
    pub anchor_log: Option<PathBuf>,
    /// Time between signing the chain heads that moved (at least a second).
    pub anchor_interval: Duration,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<TlsFiles>,
    /// Proxies whose `X-Forwarded-For` is believed (empty: the header is ignored).
    pub trusted_proxies: Vec<IpNet>,
    /// How the dashboard under `/ui` is served (its cookie's `Secure` flag).
    pub ui: UiConfig,
}

/// The PEM files of the server's certificate chain and private key, read at start and again
/// on every SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ServeConfig {
    /// The defaults of `keyward serve` for the database at `database_url`.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            redis_url: None,
            limits: ServeLimits::default(),
            audit_journal: None,
            root_key_file: None,
            anchor_key: None,
            anchor_log: None,
            anchor_interval: anchors::DEFAULT_INTERVAL,
            tls: None,
            trusted_proxies: Vec::new(),
            ui: UiConfig::default(),
        }
    }
}

/// Where `serve` listens.
#[derive(Debug)]
pub enum Listen {
    /// Bound first, before the database is opened, as `keyward serve --listen` does.
    Address(String),
    /// Already bound (port 0 in tests, so the address is known before the server starts).
    Bound(TcpListener),
}

/// `keyward serve`: runs until `shutdown` resolves, then lets requests in flight finish,
/// flushes usage counters and takes every journaled event into the database. A database
/// server that cannot be reached at start is waited for ([`crate::startup`]), listening and
/// answering `503 not_ready` meanwhile.
pub async fn serve(
    config: ServeConfig,
    listen: Listen,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = match listen {
        Listen::Bound(listener) => listener,
        Listen::Address(address) => TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?,
    };
    // The shutdown signal is awaited in two places (while waiting for the database, then
    // while serving), so it is turned into a value both can watch.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let transport = transport(&config)?;
    let wait = is_database_server(&config.database_url);
    let opened = startup::open_or_wait_over(
        &listener,
        config.limits,
        transport.clone(),
        wait,
        || start(&config),
        &mut stopped,
    )
    .await?;
    let Some(started) = opened else {
        tracing::info!("keyward stopped before its database answered");
        return Ok(());
    };
    let state = started.state.clone();
    let addr = listener.local_addr()?;
    let scheme = if transport.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        keys = state.key_count(),
        "keyward listening on {scheme}://{addr}"
    );
    started.run_in_background();
    let shutdown = async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };
    serve_with_transport(
        listener,
        state.clone(),
        shutdown,
        config.limits,
        transport,
        config.ui.clone(),
    )
    .await?;
    started.finish().await;
    tracing::info!("keyward stopped");
    Ok(())
}

/// TLS from the configured files (reloaded on every SIGHUP from now on) and the trusted
/// proxies.
fn transport(config: &ServeConfig) -> anyhow::Result<Transport> {
    let tls = match &config.tls {
        Some(files) => Some(Tls::load(&files.cert, &files.key)?),
        None => None,
    };
    reload_on_sighup(tls.clone());
    if !config.trusted_proxies.is_empty() {
        tracing::info!(proxies = ?config.trusted_proxies, "X-Forwarded-For is believed from these proxies");
    }
    Ok(Transport {
        tls,
        trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
    })
}

/// Reads the TLS certificate and key again on each SIGHUP (`systemctl reload`): new
/// handshakes get the new certificate; a reload that fails keeps the one in use. Without
/// TLS, SIGHUP is only logged (its default action would stop the server).
fn reload_on_sighup(tls: Option<Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate will not be reloaded");
            return;
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match tls.as_ref().map(Tls::reload) {
                    None => tracing::info!("SIGHUP: nothing to reload (no TLS)"),
                    Some(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "SIGHUP: TLS certificate not reloaded; keeping the one in use")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tls);
}

/// A database reached over the network, which may come back by itself (SQLite files do not).
fn is_database_server(url: &str) -> bool {
    PostgresStore::is_postgres_url(url)
}

/// Everything `serve` needs from the database before it answers: the store (with its audit
/// journal), the first workspace of an empty database, and the loaded state.
/// What [`start`] opened, kept until the server stops.
pub(crate) struct Started {
    pub(crate) state: Keyward,
    pub(crate) database: database::Database,
    /// The change-log follower, stopped when dropped (none on a single node).
    pub(crate) _following: Option<Following>,
    /// Writes the index's snapshot beside a SQLite file (`keyward_app::snapshot`).
    pub(crate) snapshot: Option<Arc<SnapshotWriter>>,
}

impl Started {
    /// Starts the background work of a running server: maintenance, and the index's
    /// snapshot when there is one.
    pub(crate) fn run_in_background(&self) {
        maintenance::spawn(self.state.clone());
        if let Some(writer) = &self.snapshot {
            snapshot::spawn(self.state.clone(), Arc::clone(writer));
        }
    }

    /// Once serving has stopped: writes what is held in memory and leaves the database
    /// complete, the same for every command that serves.
    pub(crate) async fn finish(self) {
        let state = &self.state;
        // Counters gathered since the last periodic flush, and every aggregated verification
        // (the open minute too: a minute written in two parts still adds up).
        maintenance::flush_usage(state).await;
        maintenance::flush_aggregates(state, true).await;
        if let Err(e) = state.flush_advice_observations().await {
            tracing::warn!(error = %e, "writing advice observations at shutdown failed");
        }
        // The next start reads this instead of every key.
        if let Some(writer) = &self.snapshot {
            snapshot::log_written(writer.write(state).await);
        }
        // Every journaled event taken in, the journal detached.
        self.database.close().await;
    }
}

pub(crate) async fn start(config: &ServeConfig) -> anyhow::Result<Started> {
    let database = database::open(
        &config.database_url,
        Purpose::Serve {
            audit_journal: config.audit_journal.clone(),
        },
    )
    .await?;
    let (store, database_file) = (database.store.clone(), database.file.clone());
    let anchorer = anchors::configure(
        database_file.as_deref(),
        config.anchor_key.clone(),
        config.anchor_log.clone(),
        config.anchor_interval.max(Duration::from_secs(1)),
    )?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if store.workspaces().await?.is_empty() {
        // Never to stderr or stdout, which journald and docker keep: a new file only this user
        // can read (`secret_file`).
        let path = config
            .root_key_file
            .clone()
            .or_else(|| database_file.as_ref().map(|file| beside(file, ".root-key")))
            .unwrap_or_else(|| PathBuf::from("keyward.root-key"));
        let (workspace, said) = first_workspace(store.as_ref(), clock.as_ref(), &path).await?;
        tracing::warn!(
            workspace_id = %workspace.id,
            "created a workspace; its first root key is {said}"
        );
    }
    let limiter = RateLimiter::from_config(config.redis_url.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(counters = limiter.kind(), "rate limits");
    // A single node's index is read from its snapshot beside the database file when valid;
    // nodes that share a database read every key (their follower tracks other nodes).
    let snapshot_path = database_file
        .as_deref()
        .filter(|_| database.shared_with_other_nodes().is_none())
        .map(|file| beside(file, ".index"));
    let mut state = Keyward::load_from(store, clock, snapshot_path.as_deref())
        .await?
        .with_limiter(limiter);
    let snapshot = snapshot_path.map(|path| Arc::new(SnapshotWriter::new(&state, path)));
    state
        .metrics()
        .register_collector(Box::new(database.metrics.clone()));
    if let Some(anchorer) = anchorer {
        state = state.with_anchorer(anchorer);
    }
    // Several nodes on one database: the index follows the others' writes, and verification
    // fails closed while it cannot (`keyward_app::follow`). Stopped when dropped, after serving.
    let following = match database.shared_with_other_nodes() {
        Some(feed) => {
            let (follows, handle) = state.follow_changes(Some(feed));
            state = follows;
            tracing::info!("following the change log (LISTEN/NOTIFY, and polling)");
            Some(handle)
        }
        None => None,
    };
    Ok(Started {
        state,
        database,
        _following: following,
        snapshot,
    })
}

/// `<file><suffix>`, beside the database file.
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The first `keyward serve` on an empty database: a workspace whose root key is written to
/// the new file `path` (never to stderr, where the logger writes and journald or docker keep
/// everything). The file is created before the workspace, so a path that cannot take the key
/// stops the server before anything is created. Returns the workspace and where the key went.
async fn first_workspace(
    store: &dyn Store,
    clock: &dyn Clock,
    path: &Path,
) -> anyhow::Result<(Workspace, String)> {
    let destination = Destination::new_file(path)?;
    let created = match bootstrap::create_workspace(store, clock, "Default workspace", "kw").await {
        Ok(created) => created,
        Err(e) => {
            destination.abandon();
            return Err(e.into());
        }
    };
    let said = destination.deliver(&created.root_key).context(
        "the first root key could not be written; create another with keyward root-key create",
    )?;
    Ok((created.workspace, said))
}

/// Everything `keyward init` is configured with, parsed.
#[derive(Debug, Clone)]
pub struct InitConfig {
    pub database_url: String,
    pub workspace: String,
    pub prefix: String,
    /// Print `{"workspace_id", "root_key"}` on standard output for a script.
    pub json: bool,
    /// The new file for the root key (without it, and without `json`, a terminal).
    pub output: Option<PathBuf>,
}

/// `keyward init`: a workspace and its first root key, handed over as asked.
pub async fn init(config: InitConfig) -> anyhow::Result<()> {
    // Where the root key goes is settled before anything is created, so a destination that
    // cannot take it (a pipe a log collector may keep) stops the command with nothing made.
    let destination = match (&config.output, config.json) {
        (_, true) => None,
        (Some(path), false) => Some(Destination::new_file(path)?),
        (None, false) => Some(Destination::terminal().context(
            "keyward init shows the root key only on a terminal: pass --output FILE, or --json \
             for a script that captures it",
        )?),
    };
    let database = database::open(&config.database_url, Purpose::Command).await?;
    let created = match bootstrap::create_workspace(
        database.store.as_ref(),
        &SystemClock,
        &config.workspace,
        &config.prefix,
    )
    .await
    {
        Ok(created) => created,
        Err(error) => {
            if let Some(destination) = destination {
                destination.abandon();
            }
            return Err(error.into());
        }
    };
    let Some(destination) = destination else {
        let out = keyward_api::InitOutput {
            workspace_id: created.workspace.id.clone(),
            root_key: created.root_key.expose().to_owned(),
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    };
    let said = destination.deliver(&created.root_key)?;
    eprintln!(
        "Created workspace {:?} ({}); its root key was {said}.\nUse it with: export KEYWARD_ROOT_KEY=<root key>",
        created.workspace.name, created.workspace.id
    );
    Ok(())
}

/// The database at `database_url` (migrated first) with a new workspace `name` whose keys
/// start with `prefix`, and the workspace's first root key, returned in plaintext for the
/// caller to hand over once.
pub async fn create_workspace(
    database_url: &str,
    name: &str,
    prefix: &str,
) -> anyhow::Result<NewWorkspace> {
    let database = database::open(database_url, Purpose::Command).await?;
    let created =
        bootstrap::create_workspace(database.store.as_ref(), &SystemClock, name, prefix).await;
    database.close().await;
    Ok(created?)
}

/// `keyward root-key create`: a root key straight in the database; says where it went.
pub async fn root_key(command: RootKeyCommand) -> anyhow::Result<String> {
    let RootKeyCommand::Create(args) = command;
    let database = database::open(&args.database_url, Purpose::Command).await?;
    let said = recovery::create(database.store.as_ref(), &SystemClock, &args).await;
    database.close().await;
    said
}
