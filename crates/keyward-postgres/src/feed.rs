//! The push half of following the change log on PostgreSQL: [`PostgresChangeFeed`]
//! subscribes with `LISTEN` (sqlx's `PgListener`) on a connection of its own, and a writing
//! transaction announces its last change number with `pg_notify` (`changes.rs`), delivered
//! at commit. The payload is a sequence number, never an object's contents or key material.
//! `NOTIFY` has no replay: announcements sent while a subscription is down are lost, which
//! the follower's polling covers (`keyward_app::follow`).

use crate::changes::CHANNEL;
use crate::error::store_error;
use async_trait::async_trait;
use keyward_core::{ChangeFeed, ChangeSubscription, StoreError};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::time::Duration;

/// Announcements on `keyward_changes`, from one dedicated connection.
#[derive(Debug, Clone)]
pub struct PostgresChangeFeed {
    /// A pool of one connection, only for the listener (a `LISTEN`ing session must not be
    /// handed to queries).
    pool: PgPool,
    /// How long subscribing may take (connecting and `LISTEN`).
    subscribe_timeout: Duration,
}

impl crate::PostgresStore {
    /// The change feed of this store's database (connects when first subscribed).
    pub fn change_feed(&self) -> PostgresChangeFeed {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.timeouts.acquire)
            .test_before_acquire(true)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(PgConnectOptions::clone(&self.options));
        PostgresChangeFeed {
            pool,
            subscribe_timeout: self.timeouts.call,
        }
    }
}

#[async_trait]
impl ChangeFeed for PostgresChangeFeed {
    async fn subscribe(&self) -> Result<Box<dyn ChangeSubscription>, StoreError> {
        let subscribe = async {
            let mut listener = PgListener::connect_with(&self.pool)
                .await
                .map_err(store_error)?;
            // A lost connection ends the subscription (the caller subscribes again and
            // catches up) instead of being replaced silently.
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await.map_err(store_error)?;
            Ok::<_, StoreError>(listener)
        };
        let listener = tokio::time::timeout(self.subscribe_timeout, subscribe)
            .await
            .map_err(|_| {
                StoreError::Unavailable("subscribing to the change feed timed out".into())
            })??;
        Ok(Box::new(Subscription(listener)))
    }
}

struct Subscription(PgListener);

#[async_trait]
impl ChangeSubscription for Subscription {
    async fn next(&mut self) -> Result<Option<i64>, StoreError> {
        match self.0.try_recv().await.map_err(store_error)? {
            Some(notification) => Ok(notification.payload().parse().ok()),
            None => Err(StoreError::Unavailable(
                "the change feed's connection was lost".into(),
            )),
        }
    }
}
