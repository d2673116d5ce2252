//! A node started while its database server cannot be reached: it listens at once, is alive
//! but not ready (`503 not_ready`, saying why, on `/readyz` and on every call), retries by
//! itself, and hands the same socket over once the database answers. A failure that
//! retrying cannot change, or one on a SQLite file, still stops the start at once.

use keyward::startup::open_or_wait;
use keyward_api::ErrorCode;
use keyward_client::{Client, Error};
use keyward_core::StoreError;
use keyward_server::ServeLimits;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

fn unreachable() -> anyhow::Error {
    anyhow::Error::new(StoreError::Unavailable(
        "error communicating with database: Connection refused".into(),
    ))
    .context("opening the database")
}

#[track_caller]
fn assert_not_ready(result: Result<impl std::fmt::Debug, Error>) {
    let error = result.expect_err("a starting server is not ready");
    let api = error.api().expect("an HTTP answer");
    assert_eq!(api.status.as_u16(), 503, "{}", api.body);
    assert_eq!(api.code, Some(ErrorCode::NotReady), "{}", api.body);
    let message = api.message.clone().unwrap_or_default();
    assert!(message.contains("cannot reach its database"), "{message}");
    assert!(
        !message.contains("Connection refused"),
        "no internal detail: {message}"
    );
}

#[tokio::test]
async fn a_node_started_without_its_database_answers_not_ready_and_starts_when_it_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let database_up = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let (_stop, mut stopped) = watch::channel(false);
    let (up, tries) = (database_up.clone(), attempts.clone());
    let starting = tokio::spawn(async move {
        let opened = open_or_wait(
            &listener,
            ServeLimits::default(),
            true,
            || {
                tries.fetch_add(1, Ordering::SeqCst);
                let up = up.load(Ordering::SeqCst);
                async move {
                    if up {
                        Ok("loaded")
                    } else {
                        Err(unreachable())
                    }
                }
            },
            &mut stopped,
        )
        .await;
        (opened, listener)
    });

    let client = Client::anonymous(&url).unwrap();
    // The first attempt failed before the starting server listens on the copy; the socket
    // itself was bound before, so the connection waits in the backlog, never refused.
    client.health().await.expect("alive while starting");
    assert_not_ready(client.ready().await);
    assert_not_ready(client.list_keys(&Default::default()).await);
    let before = attempts.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let after = attempts.load(Ordering::SeqCst);
    println!(
        "attempts in 2.5 s while the database was down: {}",
        after - before
    );
    assert!(after > before, "it keeps trying by itself");

    database_up.store(true, Ordering::SeqCst);
    let (opened, listener) = starting.await.unwrap();
    assert_eq!(opened.unwrap(), Some("loaded"));
    // The socket is still open for the real server: a connection made now is accepted.
    let accepting = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
    tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .expect("the same socket still listens");
    accepting
        .await
        .unwrap()
        .expect("the real server's listener accepts");
}

#[tokio::test]
async fn a_failure_retrying_cannot_change_or_a_sqlite_file_stops_the_start_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_stop, mut stopped) = watch::channel(false);
    let refused = open_or_wait(
        &listener,
        ServeLimits::default(),
        true,
        || async { Err::<(), _>(anyhow::anyhow!("the audit journal is in use")) },
        &mut stopped,
    )
    .await;
    assert!(refused.is_err());
    let file = open_or_wait(
        &listener,
        ServeLimits::default(),
        false,
        || async { Err::<(), _>(unreachable()) },
        &mut stopped,
    )
    .await;
    assert!(
        file.is_err(),
        "without waiting, unreachable is an error too"
    );
}

#[tokio::test]
async fn a_shutdown_while_waiting_for_the_database_ends_the_start_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, mut stopped) = watch::channel(false);
    let waiting = tokio::spawn(async move {
        open_or_wait(
            &listener,
            ServeLimits::default(),
            true,
            || async { Err::<(), _>(unreachable()) },
            &mut stopped,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(ended.unwrap(), None);
}
