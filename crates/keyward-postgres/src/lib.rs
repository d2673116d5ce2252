//! keyward's PostgreSQL [`Store`](keyward_core::Store): the engine for several identical
//! `keyward serve` nodes sharing one database. Same records, same stored forms and the same
//! audit chain as `keyward-sqlite` (an event's fields are stored exactly as they are hashed,
//! so a chain copied from SQLite verifies here); runtime queries only, so building needs no
//! database.
//!
//! What several nodes need of it, each done inside the database rather than in one process:
//!
//! - **One chain per workspace.** Appending locks the workspace's row in `audit_heads`
//!   (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, which takes the row lock) before reading
//!   the head, links after it (`keyward_core::chain`) and writes it back in the same
//!   transaction: appends from any number of nodes queue on that lock and form one gap-free
//!   chain. Heads are locked in workspace-id order, so a batch spanning workspaces cannot
//!   deadlock with another.
//! - **Exact credits.** A batch of spends (`keyward_storage::Spender`) locks its keys'
//!   rows (`FOR UPDATE`, in id order) before reading any balance, so a spend on one node
//!   waits for a spend on another and reads the balance it left.
//! - **Bounded calls.** See [`Timeouts`]: every call gives up with
//!   [`StoreError::Unavailable`](keyward_core::StoreError) within seconds when the database is
//!   down, unreachable or stuck behind a lock, instead of hanging a request.
//! - **A change log other nodes follow.** A write that changes a key, root key or workspace
//!   numbers its changes from the one row of `change_counter`, which it locks until it
//!   commits (numbers gap-free and visible in commit order; the lock is taken after the
//!   write's own rows and before any chain head, so it adds no deadlock), and announces the
//!   last number with `pg_notify` at commit; [`PostgresChangeFeed`] listens for it.
//!
//! Wrap it in `keyward_storage::Grouped` to group-commit verification events into the
//! database (what `keyward serve` does: an acknowledged verification is then durable in the
//! shared database, not on a node's disk). It is also an `IngestTarget`, so a single node may
//! put it behind an audit journal; that journal position is one row, so only one node at a
//! time can run that way.

mod advice;
mod audit;
mod changes;
mod dashboard;
// The stored forms and rows both SQL engines share, under the names the modules use.
use keyward_sql::{columns, rows};
mod error;
mod feed;
mod ingest;
mod keys;
mod partitions;
mod restrictions;
pub mod scratch;
mod settings;
mod spends;
mod sql;
mod store;
mod verified_prefix;
mod workspaces;

pub use feed::PostgresChangeFeed;
use keyward_core::StoreError;
use keyward_storage::Spender;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long each kind of database call may take before it fails with
/// `StoreError::Unavailable`. The defaults:
///
/// - `acquire` 3 s: waiting for a pooled connection, including connecting (a database that
///   is down or unreachable fails here).
/// - `statement` 5 s: PostgreSQL's `statement_timeout`, set on every connection, so a
///   statement stuck behind a lock or a slow disk is cancelled by the server.
/// - `idle_in_transaction` 10 s: the server ends a session that holds a transaction open and
///   sends nothing (a node that froze holding a chain head's lock releases it).
/// - `call` 12 s: the client's own bound on one store call (a transaction is several
///   statements), which also covers a network that stops answering, where no server-side
///   timeout can fire.
/// - `bulk` 120 s: reading every key or usage row at startup (a million keys), and
///   migrations, which run with this as their statement timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub acquire: Duration,
    pub statement: Duration,
    pub idle_in_transaction: Duration,
    pub call: Duration,
    pub bulk: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            acquire: Duration::from_secs(3),
            statement: Duration::from_secs(5),
            idle_in_transaction: Duration::from_secs(10),
            call: Duration::from_secs(12),
            bulk: Duration::from_secs(120),
        }
    }
}

/// Connections per node: enough for management calls, the spender and the audit group
/// commit to run side by side; several nodes share the server's `max_connections` (100 by
/// default).
const MAX_CONNECTIONS: u32 = 10;

/// A [`Store`](keyward_core::Store) on PostgreSQL. Cloning shares the pool and the spender.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The connection options, for migrations on a connection of their own.
    options: Arc<PgConnectOptions>,
    timeouts: Timeouts,
    /// Group-commits credit spends.
    spender: Spender,
}

impl PostgresStore {
    /// `metrics` with this store's connection pool.
    pub fn with_pool_metrics(
        &self,
        metrics: keyward_storage::StorageMetrics,
    ) -> keyward_storage::StorageMetrics {
        let pool = self.pool.clone();
        metrics.with_pool("postgres", move || keyward_storage::PoolState {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }

    /// A store on the database at `url` (`postgres://user@host:port/database`), with the
    /// default [`Timeouts`]. Connects lazily: a database that is down makes the first call
    /// fail, not this one. Does not migrate; call
    /// [`Store::migrate`](keyward_core::Store::migrate).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Timeouts::default())
    }

    /// [`PostgresStore::connect`] with other timeouts. Needs a Tokio runtime (the spender's
    /// task starts on it).
    pub fn connect_with(url: &str, timeouts: Timeouts) -> Result<Self, StoreError> {
        // The URL may hold a password: the parse error is not passed on.
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Unavailable("invalid PostgreSQL url".into()))?
            .application_name("keyward")
            .options([
                ("statement_timeout", millis(timeouts.statement)),
                (
                    "idle_in_transaction_session_timeout",
                    millis(timeouts.idle_in_transaction),
                ),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(timeouts.acquire)
            // A connection the server dropped (restart, failover) is found before use.
            .test_before_acquire(true)
            .connect_lazy_with(options.clone());
        Ok(Self {
            spender: Spender::start(spends::PostgresSpends {
                pool: pool.clone(),
                timeouts,
            }),
            pool,
            options: Arc::new(options),
            timeouts,
        })
    }

    /// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
    pub fn is_postgres_url(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The timeouts this store keeps.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Closes every connection, waiting for work in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A duration as PostgreSQL's integer milliseconds setting.
fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

/// `call`, or `Unavailable` once `limit` has passed (the call is dropped: its transaction,
/// if any, rolls back when the connection next answers or is closed).
async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!(
            "the database did not answer within {} ms",
            limit.as_millis()
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_is_refused_without_quoting_it() {
        let err = PostgresStore::connect("postgres://user:hunter2@[::1").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn a_call_that_outlives_its_limit_is_unavailable() {
        let never = std::future::pending::<Result<(), StoreError>>();
        let err = bounded(Duration::from_millis(10), never).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }

    /// Nothing listens on the port: the call fails within the acquire timeout.
    #[tokio::test]
    async fn an_unreachable_database_fails_within_the_acquire_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let timeouts = Timeouts {
            acquire: Duration::from_millis(500),
            ..Timeouts::default()
        };
        let store =
            PostgresStore::connect_with(&format!("postgres://kw@127.0.0.1:{port}/kw"), timeouts)
                .unwrap();
        let started = std::time::Instant::now();
        let err = keyward_core::Store::ping(&store).await.unwrap_err();
        println!("failed after {:?}: {err}", started.elapsed());
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }
}
