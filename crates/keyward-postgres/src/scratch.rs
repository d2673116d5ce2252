//! Scratch databases for tests and benchmarks: [`ScratchDatabase::create`] makes a new, empty
//! database on a server (named `kw_test_<unix seconds>_<process>_<n>`), and dropping it drops
//! the database, also when a test fails (a panic unwinds through the drop). Databases left by
//! a process that was killed are dropped by the first create of a later process once they are
//! an hour old.

use keyward_core::StoreError;
use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What every scratch database's name starts with.
const PREFIX: &str = "kw_test_";
/// Leftovers older than this are dropped.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// A database made for one test; dropped with it.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates a new, empty database on the server of `server_url` (any database URL there:
    /// it is the one connected to for `CREATE DATABASE` and `DROP DATABASE`).
    pub async fn create(server_url: &str) -> Result<Self, StoreError> {
        static SWEEP: Once = Once::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut conn = connect(server_url).await?;
        let now = unix_seconds();
        let mut sweep = false;
        SWEEP.call_once(|| sweep = true);
        if sweep {
            drop_leftovers(&mut conn, now).await?;
        }
        let name = format!(
            "{PREFIX}{now}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // template0: never connected to, so concurrent creates cannot find it in use.
        sqlx::query(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
            .execute(&mut conn)
            .await
            .map_err(|e| StoreError::Unavailable(format!("creating {name}: {e}")))?;
        let _ = conn.close().await;
        Ok(Self {
            url: with_database(server_url, &name),
            server: server_url.to_owned(),
            name,
        })
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
    /// Drops the database (`WITH (FORCE)`: connections still open are ended), on a thread of
    /// its own with its own runtime, since `drop` cannot await.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = connect(&server).await.map_err(|e| e.to_string())?;
                drop_database(&mut conn, &name)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the scratch database {}", self.name);
        }
    }
}

async fn connect(url: &str) -> Result<PgConnection, StoreError> {
    PgConnection::connect(url)
        .await
        .map_err(|_| StoreError::Unavailable("cannot connect to the PostgreSQL server".into()))
}

async fn drop_database(conn: &mut PgConnection, name: &str) -> Result<(), StoreError> {
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(conn)
        .await
        .map_err(|e| StoreError::Unavailable(format!("dropping {name}: {e}")))?;
    Ok(())
}

/// Drops scratch databases created over [`LEFTOVER_AGE`] ago (by the time in their name).
async fn drop_leftovers(conn: &mut PgConnection, now: u64) -> Result<(), StoreError> {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| StoreError::Unavailable(format!("listing databases: {e}")))?;
    for (name,) in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > LEFTOVER_AGE.as_secs()) {
            drop_database(conn, &name).await?;
        }
    }
    Ok(())
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `url` with its database replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_parameters_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "kw_test_1"),
            "postgres://postgres@127.0.0.1:5432/kw_test_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "kw_test_1"),
            "postgres://u:p@h/kw_test_1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "d"), "postgres://h/d");
    }
}
