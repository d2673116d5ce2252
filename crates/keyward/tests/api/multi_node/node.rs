//! Nodes on one PostgreSQL database, in process: each node is what `keyward serve` builds for
//! a `postgres://` URL (its own `PostgresStore` pool, group-committed appends, its own index,
//! usage counters and rate-limit client) served on its own loopback listener. A test gets a
//! fresh scratch database with one workspace, dropped after it.

use crate::helpers::Api;
use keyward_app::limits::RateLimiter;
use keyward_app::{bootstrap, Keyward, SystemClock};
use keyward_core::{Clock, Store};
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::{PostgresStore, Timeouts};
use keyward_server::{serve_with, ServeLimits};
use keyward_storage::Grouped;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The PostgreSQL server to test against, or `None` after saying the test was skipped.
pub fn postgres(test: &str) -> Option<String> {
    crate::skip::service_url(
        "KEYWARD_TEST_POSTGRES_URL",
        test,
        "set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run the multi-node tests",
    )
}

/// A scratch database with one workspace, and that workspace's root key.
pub struct Shared {
    pub db: ScratchDatabase,
    pub root_key: String,
}

impl Shared {
    pub async fn create(server: &str) -> Self {
        let db = ScratchDatabase::create(server)
            .await
            .expect("a scratch database");
        let store = PostgresStore::connect(db.url()).expect("a store");
        store.migrate().await.expect("migrating");
        let created = bootstrap::create_workspace(&store, &SystemClock, "Many Nodes", "bos")
            .await
            .expect("the workspace");
        store.close().await;
        Self {
            db,
            root_key: created.root_key.expose().to_owned(),
        }
    }

    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// The database server's address (an IP address on the test machine).
    pub fn address(&self) -> SocketAddr {
        let url = reqwest::Url::parse(self.url()).expect("a database URL");
        let host = url.host_str().expect("a host");
        format!("{host}:{}", url.port().unwrap_or(5432))
            .parse()
            .expect("the test server's host is an IP address")
    }

    /// The database's URL with its address replaced by `via` (a proxy).
    pub fn url_via(&self, via: SocketAddr) -> String {
        let mut url = reqwest::Url::parse(self.url()).expect("a database URL");
        url.set_port(Some(via.port())).expect("a port");
        url.set_host(Some(&via.ip().to_string())).expect("a host");
        url.to_string()
    }
}

/// The state a node serves: loaded from the database at `url`, appends group-committed,
/// rate limits in Redis when `redis` is given.
pub async fn load(url: &str, redis: Option<&str>, timeouts: Timeouts) -> anyhow::Result<Keyward> {
    let store = PostgresStore::connect_with(url, timeouts)?;
    store.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(Grouped::new(store));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let limiter = RateLimiter::from_config(redis).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Keyward::load(store, clock).await?.with_limiter(limiter))
}

/// A node serving on loopback until stopped.
pub struct Node {
    pub state: Keyward,
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Node {
    pub async fn start(url: &str, redis: Option<&str>) -> Self {
        let state = load(url, redis, Timeouts::default())
            .await
            .expect("loading a node");
        Self::serve(
            state,
            TcpListener::bind("127.0.0.1:0").await.expect("a port"),
        )
        .await
    }

    pub async fn serve(state: Keyward, listener: TcpListener) -> Self {
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(
            listener,
            state.clone(),
            async move {
                let _ = stopped.await;
            },
            ServeLimits::default(),
        ));
        Self {
            state,
            url,
            stop: Some(stop),
            task,
        }
    }

    pub fn api(&self, root_key: &str) -> Api<'static> {
        Api::at(&self.url, Some(root_key))
    }

    /// Writes the usage this node counted, as its background flush does.
    pub async fn flush_usage(&self) {
        self.state
            .usage()
            .flush(self.state.store().as_ref())
            .await
            .expect("writing usage");
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
