//! Two nodes on one SQLite database file, each with its own connections and its own index,
//! following the change log by polling (SQLite has no push): what one writes, the other
//! learns. (`keyward serve` keeps one server per file through its audit journal's lock, so
//! the nodes here are the application core and the HTTP server over a store each, as
//! `keyward serve` builds them without the journal.)

use super::propagation;
use keyward_app::follow::Following;
use keyward_app::{bootstrap, Keyward, SystemClock};
use keyward_client::{Client, SecretString};
use keyward_core::Store;
use keyward_sqlite::SqliteStore;
use keyward_storage::Grouped;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A node: the core following the change log, served on a loopback port.
struct Node {
    address: String,
    _following: Following,
    _stop: oneshot::Sender<()>,
}

async fn node(url: &str) -> Node {
    let store = SqliteStore::connect(url).await.expect("opening the file");
    store.migrate().await.expect("migrating");
    let store: Arc<dyn Store> = Arc::new(Grouped::new(store));
    let state = Keyward::load(store, Arc::new(SystemClock))
        .await
        .expect("loading the index");
    let (state, following) = state.follow_changes(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(keyward_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Node {
        address,
        _following: following,
        _stop: stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_node_reach_the_other_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shared.db").display());
    let workspace = {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        bootstrap::create_workspace(&store, &SystemClock, "Shared", "bos")
            .await
            .unwrap()
    };
    let root = || SecretString::from(workspace.root_key.expose().to_owned());
    let (a, b) = (node(&url).await, node(&url).await);
    let a = Client::new(&a.address, root()).unwrap();
    let b_client = Client::new(&b.address, root()).unwrap();
    let times = propagation::run(&a, &b_client, 26).await;
    assert!(times.len() >= 200, "at least 200 changes measured");
    propagation::report("SQLite, two nodes on one file, polling", times);
}
