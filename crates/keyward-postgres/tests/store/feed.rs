//! The change feed on PostgreSQL (`PostgresChangeFeed`): a subscription hears every committed
//! change's number once its transaction commits, from a write on another node's store, and
//! nothing from a write that failed; a subscription whose connection is terminated ends
//! with an error instead of going quiet.

use super::{server, unavailable};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use keyward_core::{ChangeFeed, EventKind, NewEvent, Store};
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::PostgresStore;
use keyward_store_tests::fixtures::{lone_workspace, new_key};
use sqlx::Connection;
use std::time::Duration;

/// Far beyond a delivery on loopback; only reached when an announcement never comes.
const HEARD_WITHIN: Duration = Duration::from_secs(10);

fn t0() -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")
}

#[tokio::test]
async fn a_subscription_hears_each_committed_change_and_ends_when_its_session_does() -> Result<()> {
    let test = "a_subscription_hears_each_committed_change_and_ends_when_its_session_does";
    if let Some(why) = unavailable() {
        return keyward_store_tests::skip(test, &why);
    }
    let db = ScratchDatabase::create(&server().context("a server")?).await?;
    let (a, b) = (
        PostgresStore::connect(db.url())?,
        PostgresStore::connect(db.url())?,
    );
    a.migrate().await?;
    let feed = b.change_feed();
    let mut subscription = feed.subscribe().await?;

    let ws = lone_workspace(&a, "Feed", "fee", t0()?).await?;
    let heard = tokio::time::timeout(HEARD_WITHIN, subscription.next()).await??;
    assert_eq!(
        heard,
        Some(2),
        "the workspace and its root key: the last number"
    );
    let key = new_key(&ws, "Feed Probe", None, t0()?)?;
    let event = || NewEvent::new(&ws.id, t0().unwrap_or_default(), EventKind::KeyCreated);
    a.insert_key(&key, event()).await?;
    let heard = tokio::time::timeout(HEARD_WITHIN, subscription.next()).await??;
    assert_eq!(heard, Some(3));

    // A write that fails (the name is taken) is rolled back: nothing is announced, and the
    // next write's announcement is the next number.
    let mut clash = new_key(&ws, "feed probe", None, t0()?)?;
    assert!(a.insert_key(&clash, event()).await.is_err());
    clash.name = "Second Feed Probe".into();
    a.insert_key(&clash, event()).await?;
    let heard = tokio::time::timeout(HEARD_WITHIN, subscription.next()).await??;
    assert_eq!(heard, Some(4));

    // The listening session is ended from outside (as a restart or a cut would): the
    // subscription reports it.
    let (pid,): (i32,) = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&mut sqlx::PgConnection::connect(db.url()).await?)
    .await?;
    let mut admin = sqlx::PgConnection::connect(db.url()).await?;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await?;
    let ended = tokio::time::timeout(HEARD_WITHIN, subscription.next()).await?;
    assert!(ended.is_err(), "a terminated session ends the subscription");
    // Subscribing again works, and hears what is committed from then on.
    let mut again = feed.subscribe().await?;
    let third = new_key(&ws, "Third Feed Probe", None, t0()?)?;
    a.insert_key(&third, event()).await?;
    let heard = tokio::time::timeout(HEARD_WITHIN, again.next()).await??;
    assert_eq!(heard, Some(5));
    Ok(())
}
