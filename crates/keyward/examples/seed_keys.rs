//! Fills a keyward database (SQLite, or PostgreSQL for a `postgres://` URL) with many keys at
//! once, for the benchmarks: generated keys (hash and display start only, as the server
//! stores them), each with its `key.created` event, in transactions of 100,000 (the engines'
//! bulk `import_keys`). Writes the plaintext of the first 100 keys to
//! `<valid file>` and 10,000 well-formed keys that were never stored to `<unknown file>`, one
//! a line, so the load generator has keys to present.
//!
//!     seed_keys <database url> <count> <valid file> <unknown file>
#![allow(clippy::expect_used, clippy::unwrap_used)]

use keyward_app::SystemClock;
#[path = "support/generated_key.rs"]
mod generated_key;

use generated_key::generated_key;
use keyward_core::{ApiKey, Clock, KeyPrefix, KeyRecord, NewEvent, Permission, Store};
use keyward_postgres::PostgresStore;
use keyward_sqlite::SqliteStore;
use std::io::Write;

/// The database being filled.
enum Target {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Target {
    async fn open(url: &str) -> anyhow::Result<Self> {
        let target = if PostgresStore::is_postgres_url(url) {
            Self::Postgres(PostgresStore::connect(url)?)
        } else {
            Self::Sqlite(SqliteStore::connect(url).await?)
        };
        target.store().migrate().await?;
        Ok(target)
    }

    fn store(&self) -> &dyn Store {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    async fn import_keys(&self, keys: &[KeyRecord], events: Vec<NewEvent>) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(store) => store.import_keys(keys, events).await?,
            Self::Postgres(store) => store.import_keys(keys, events).await?,
        }
        Ok(())
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

const CHUNK: usize = 100_000;
const PRINT: usize = 100;
const UNKNOWN: usize = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: seed_keys <database url> <count> <valid file> <unknown file>";
    let url = args.get(1).expect(usage);
    let count: usize = args.get(2).expect(usage).parse()?;
    let mut valid = std::io::BufWriter::new(std::fs::File::create(args.get(3).expect(usage))?);
    let mut unknown = std::io::BufWriter::new(std::fs::File::create(args.get(4).expect(usage))?);
    let store = Target::open(url).await?;
    let workspace = store
        .store()
        .workspaces()
        .await?
        .into_iter()
        .next()
        .expect("run `keyward init` first");
    let prefix = KeyPrefix::parse(&workspace.prefix)?;
    let permissions = vec![
        Permission::parse("invoices:read")?,
        Permission::parse("payroll:*")?,
    ];
    let now = SystemClock.now();
    let started = std::time::Instant::now();
    let mut seeded = 0;
    while seeded < count {
        let n = CHUNK.min(count - seeded);
        let mut keys = Vec::with_capacity(n);
        let mut events = Vec::with_capacity(n);
        for i in seeded..seeded + n {
            let (secret, key, event) = generated_key(&workspace.id, &prefix, &permissions, i, now)?;
            if i < PRINT {
                writeln!(valid, "{}", secret.expose())?;
            }
            keys.push(key);
            events.push(event);
        }
        store.import_keys(&keys, events).await?;
        seeded += n;
    }
    valid.flush()?;
    for _ in 0..UNKNOWN {
        writeln!(unknown, "{}", ApiKey::generate(&prefix)?.expose())?;
    }
    unknown.flush()?;
    eprint!(
        "seeded {count} keys in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}
