//! A keyward server in this process: `serve` on a loopback port over a fresh in-memory
//! SQLite store with one workspace. The only place that knows how a server is assembled.

use keyward_app::anchors::Anchorer;
use keyward_app::SystemClock;
use keyward_app::{bootstrap, Keyward};
use keyward_client::{Client, SecretString};
use keyward_core::anchor::AnchorSigningKey;
use keyward_core::Store;
use keyward_server::serve;
use keyward_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server; it stops when this is dropped.
pub struct TestServer {
    pub url: String,
    /// The plaintext of the workspace's first root key (every right).
    pub root_key: String,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    /// A client presenting the workspace's root key.
    pub fn client(&self) -> Client {
        self.client_with(&self.root_key)
    }

    /// A client presenting `root_key`.
    pub fn client_with(&self, root_key: &str) -> Client {
        Client::new(&self.url, SecretString::from(root_key.to_owned())).unwrap()
    }

    pub fn anonymous(&self) -> Client {
        Client::anonymous(&self.url).unwrap()
    }
}

pub async fn start() -> TestServer {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(SystemClock);
    let created = bootstrap::create_workspace(&store, clock.as_ref(), "Client tests", "bos")
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let anchorer = Anchorer::new(
        AnchorSigningKey::generate().unwrap(),
        None,
        Duration::from_secs(3600),
    );
    let state = Keyward::load(store, clock)
        .await
        .unwrap()
        .with_anchorer(anchorer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    TestServer {
        url,
        root_key: created.root_key.expose().to_owned(),
        _stop: stop,
    }
}
