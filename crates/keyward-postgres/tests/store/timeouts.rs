//! Every database call is bounded: a statement stuck behind a lock is cancelled by the
//! server's `statement_timeout`, and a server that accepts connections but never answers
//! fails the call within the acquire timeout. Measured times are printed, not asserted
//! against a threshold; the bound asserted is the call timeout, far above them.

use super::{server, unavailable};
use anyhow::{ensure, Context, Result};
use keyward_core::{EventKind, NewEvent, Store, StoreError};
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::{PostgresStore, Timeouts};
use keyward_store_tests::fixtures::lone_workspace;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Short timeouts, so the tests finish quickly; the call timeout is the bound asserted.
fn short() -> Timeouts {
    Timeouts {
        acquire: Duration::from_millis(500),
        statement: Duration::from_millis(500),
        idle_in_transaction: Duration::from_secs(2),
        call: Duration::from_secs(5),
        bulk: Duration::from_secs(10),
    }
}

/// An append waiting for a workspace's chain head that another session holds locked fails
/// with `Unavailable` once the statement timeout passes, and the chain is intact after.
#[tokio::test]
async fn an_append_stuck_behind_a_lock_fails_within_the_statement_timeout() -> Result<()> {
    if let Some(why) = unavailable() {
        return keyward_store_tests::skip("an_append_stuck_behind_a_lock", &why);
    }
    let db = ScratchDatabase::create(&server().context("a server")?).await?;
    let store = PostgresStore::connect_with(db.url(), short())?;
    store.migrate().await?;
    let t0 = chrono::Utc::now();
    let ws = lone_workspace(&store, "Locked Head", "lh", t0).await?;

    // Another session (another node, frozen mid-transaction) holds the head's lock.
    let mut holder = sqlx::PgConnection::connect(db.url()).await?;
    let mut tx = holder.begin().await?;
    sqlx::query("SELECT seq FROM audit_heads WHERE workspace_id = $1 FOR UPDATE")
        .bind(&ws.id)
        .execute(&mut *tx)
        .await?;

    let (started, event) = (
        Instant::now(),
        NewEvent::new(&ws.id, t0, EventKind::KeyVerified),
    );
    let stuck = store.append_events(vec![event]).await;
    let took = started.elapsed();
    println!("an append behind a held lock failed after {took:?}: {stuck:?}");
    ensure!(
        matches!(stuck, Err(StoreError::Unavailable(_))),
        "{stuck:?}"
    );
    ensure!(took < short().call, "bounded: {took:?}");

    tx.rollback().await?;
    let event = NewEvent::new(&ws.id, t0, EventKind::KeyVerified);
    store.append_events(vec![event]).await?;
    ensure!(store.chain_head(&ws.id).await?.map(|h| h.seq) == Some(2));
    holder.close().await?;
    store.close().await;
    Ok(())
}

/// A server that accepts the connection and then says nothing (hung, or a black-holed
/// network): the call fails within the acquire timeout instead of hanging.
#[tokio::test]
async fn a_server_that_never_answers_fails_the_call_instead_of_hanging() -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // Accepts and holds every connection, reading nothing, until the test ends.
    let hung = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let store =
        PostgresStore::connect_with(&format!("postgres://kw@127.0.0.1:{port}/kw"), short())?;
    let started = Instant::now();
    let ping = store.ping().await;
    let migrate = store.migrate().await;
    let took = started.elapsed();
    println!("ping and migrate against a silent server failed after {took:?}");
    ensure!(matches!(ping, Err(StoreError::Unavailable(_))), "{ping:?}");
    ensure!(
        matches!(migrate, Err(StoreError::Unavailable(_))),
        "{migrate:?}"
    );
    ensure!(took < 2 * short().call, "bounded: {took:?}");
    hung.abort();
    Ok(())
}
