//! The two places an acknowledged verification can be durable on PostgreSQL, served side by
//! side for `scripts/bench-nodes` to load alternately: `Grouped` (events group-committed into
//! the shared database before the answer; what `keyward serve` does on PostgreSQL) and
//! `Journaled` (events group-committed into a local audit journal with `fdatasync`, ingested
//! into the database in the background). Each gets its own scratch database on the server
//! (dropped at exit), one workspace and 100 keys. Prints one line per design,
//! `<design> <url> <root key file> <keys file>`, then serves until stdin closes.
//!
//!     durability_nodes <postgres server url> <work dir>
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "support/generated_key.rs"]
mod generated_key;

use generated_key::generated_key;
use keyward_app::{bootstrap, Keyward, SystemClock};
use keyward_core::{Clock, KeyPrefix, Permission, Store};
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::PostgresStore;
use keyward_server::{serve_with, ServeLimits};
use keyward_storage::{Grouped, JournalOptions, Journaled};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

const KEYS: usize = 100;

/// A workspace and `KEYS` keys in `store`; writes the root key and the keys' plaintexts.
async fn fill(store: &PostgresStore, work: &Path, design: &str) -> anyhow::Result<()> {
    store.migrate().await?;
    let created = bootstrap::create_workspace(store, &SystemClock, "Durability", "bench").await?;
    std::fs::write(
        work.join(format!("{design}.root")),
        created.root_key.expose(),
    )?;
    let prefix = KeyPrefix::parse("bench")?;
    let now = SystemClock.now();
    let mut keys_file = std::fs::File::create(work.join(format!("{design}.valid")))?;
    let permissions = [Permission::parse("invoices:read")?];
    let (mut keys, mut events) = (Vec::new(), Vec::new());
    for i in 0..KEYS {
        let (secret, key, event) =
            generated_key(&created.workspace.id, &prefix, &permissions, i, now)?;
        writeln!(keys_file, "{}", secret.expose())?;
        keys.push(key);
        events.push(event);
    }
    store.import_keys(&keys, events).await?;
    Ok(())
}

async fn serve(store: Arc<dyn Store>, design: &str, work: &Path) -> anyhow::Result<()> {
    let state = Keyward::load(store, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "{design} http://{} {} {}",
        listener.local_addr()?,
        work.join(format!("{design}.root")).display(),
        work.join(format!("{design}.valid")).display()
    );
    tokio::spawn(serve_with(
        listener,
        state,
        std::future::pending(),
        ServeLimits::default(),
    ));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: durability_nodes <postgres server url> <work dir>";
    let server = args.get(1).expect(usage);
    let work = Path::new(args.get(2).expect(usage));
    let grouped_db = ScratchDatabase::create(server).await?;
    let journaled_db = ScratchDatabase::create(server).await?;

    let grouped = PostgresStore::connect(grouped_db.url())?;
    fill(&grouped, work, "grouped").await?;
    serve(Arc::new(Grouped::new(grouped)), "grouped", work).await?;

    let journaled = PostgresStore::connect(journaled_db.url())?;
    fill(&journaled, work, "journaled").await?;
    let journal = Journaled::open(
        journaled,
        &work.join("audit-journal"),
        JournalOptions::default(),
    )
    .await?;
    serve(Arc::new(journal.clone()), "journaled", work).await?;
    std::io::stdout().flush()?;

    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    journal.shut_down().await?;
    Ok(())
}
