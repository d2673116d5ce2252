//! Two nodes on one SQLite database file, each with its own connections and its own index,
//! following the change log by polling (SQLite has no push): what one writes, the other
//! learns. (`keyward serve` keeps one server per file through its audit journal's lock, so
//! the nodes here are the application core and the HTTP server over a store each, as
//! `keyward serve` builds them without the journal.)

use super::propagation;
use crate::helpers::remember_secret;
use keyward_api::{CreateKeyRequest, RevokeKeyRequest, VerifyCode, VerifyRequest};
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

/// The core of a node on the file at `url`, its index loaded, not yet following.
async fn loaded(url: &str) -> Keyward {
    let store = SqliteStore::connect(url).await.expect("opening the file");
    store.migrate().await.expect("migrating");
    let store: Arc<dyn Store> = Arc::new(Grouped::new(store));
    Keyward::load(store, Arc::new(SystemClock))
        .await
        .expect("loading the index")
}

async fn node(url: &str) -> Node {
    serve(loaded(url).await).await
}

/// Serves `state`, following the change log from where it was loaded.
async fn serve(state: Keyward) -> Node {
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

/// A database file with one workspace, and its root key.
async fn shared_file(dir: &tempfile::TempDir) -> (String, String) {
    let url = format!("sqlite:{}", dir.path().join("shared.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let workspace = bootstrap::create_workspace(&store, &SystemClock, "Shared", "bos")
        .await
        .unwrap();
    store.close().await;
    let root = workspace.root_key.expose().to_owned();
    remember_secret(&root);
    (url, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_node_reach_the_other_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let (url, root) = shared_file(&dir).await;
    let root = || SecretString::from(root.clone());
    let (a, b) = (node(&url).await, node(&url).await);
    let a = Client::new(&a.address, root()).unwrap();
    let b_client = Client::new(&b.address, root()).unwrap();
    let times = propagation::run(&a, &b_client, 26).await;
    assert!(times.len() >= 200, "at least 200 changes measured");
    propagation::report("SQLite, two nodes on one file, polling", times);
}

/// A node whose position in the log was pruned away (it was stopped longer than the log
/// keeps changes) finds the gap, reloads its whole index, and then answers as the database
/// says: a key created and another revoked meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_the_pruned_log_reloads_its_whole_index() {
    let dir = tempfile::tempdir().unwrap();
    let (url, root) = shared_file(&dir).await;
    let root = || SecretString::from(root.clone());
    let a = node(&url).await;
    let a = Client::new(&a.address, root()).unwrap();
    let create = |name: &str| CreateKeyRequest {
        name: name.into(),
        ..Default::default()
    };
    let revoked = a
        .create_key(&create("Revoked While Away"))
        .await
        .unwrap()
        .value;
    remember_secret(&revoked.key);
    // B loads here, and does not follow yet.
    let b_state = loaded(&url).await;
    a.revoke_key(&revoked.record.id, &RevokeKeyRequest::default())
        .await
        .unwrap();
    let created = a
        .create_key(&create("Created While Away"))
        .await
        .unwrap()
        .value;
    remember_secret(&created.key);
    let store = SqliteStore::connect(&url).await.unwrap();
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(
        store.prune_changes(far).await.unwrap() > 0,
        "the log was pruned"
    );
    store.close().await;

    let b = serve(b_state).await;
    let b = Client::new(&b.address, root()).unwrap();
    let code = |key: String| {
        let b = b.clone();
        async move {
            let request = VerifyRequest {
                key,
                ..Default::default()
            };
            b.verify(&request).await.unwrap().value.code
        }
    };
    let started = std::time::Instant::now();
    while code(created.key.clone()).await != VerifyCode::Valid {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "B never reloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(code(revoked.key.clone()).await, VerifyCode::Revoked);
}
