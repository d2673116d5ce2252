//! How long loading the verification index takes and what it occupies, on a database
//! `seed_keys` filled, one way per process (so each process's resident memory is its own):
//! - `compact`: the compact index from every key row (`Store::each_key`), as a start without
//!   a snapshot;
//! - `records`: the form it replaced, every key's full `KeyRecord` behind an `Arc` in a
//!   `HashMap`, read with `all_keys`;
//! - `rows`: every key row read and converted to a record, then dropped (no index): the
//!   storage side of `compact` alone;
//! - `snapshot <file>`: the index from the snapshot at `<file>` (`keyward_app::snapshot`),
//!   written first from a full load when the file does not exist (that write timed apart).
//!
//!     index_load <database url> compact|records|rows|snapshot <file>
#![allow(clippy::expect_used, clippy::unwrap_used)]

use keyward_app::index::KeyIndex;
use keyward_app::snapshot::{self, SnapshotWriter};
use keyward_app::{Keyward, SystemClock};
use keyward_core::{KeyHash, KeyRecord, Store};
use keyward_postgres::PostgresStore;
use keyward_sqlite::SqliteStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident and peak resident memory of this process, in MiB.
fn memory_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: index_load <database url> compact|records|rows|snapshot <file>";
    let url = args.get(1).expect(usage);
    let store: Arc<dyn Store> = if PostgresStore::is_postgres_url(url) {
        Arc::new(PostgresStore::connect(url)?)
    } else {
        Arc::new(SqliteStore::connect(url).await?)
    };
    if let (Some("snapshot"), Some(file)) = (args.get(2).map(String::as_str), args.get(3)) {
        let file = std::path::PathBuf::from(file);
        if !file.exists() {
            let started = Instant::now();
            let state = Keyward::load(store.clone(), Arc::new(SystemClock)).await?;
            let loaded = started.elapsed();
            let written = SnapshotWriter::new(&state, file.clone())
                .write(&state)
                .await?;
            println!(
                "snapshot written ({written:?}) in {:.2} s after a full load of {:.2} s; {} MiB",
                (started.elapsed() - loaded).as_secs_f64(),
                loaded.as_secs_f64(),
                std::fs::metadata(&file)?.len() >> 20
            );
            return Ok(());
        }
    }
    let (before, _) = memory_mib();
    let started = Instant::now();
    let keys = match args.get(2).map(String::as_str) {
        Some("compact") => {
            let index = KeyIndex::load(store.as_ref()).await?;
            let memory = index.key_memory();
            eprintln!("compact: {} B a key counted", memory.bytes_per_key());
            std::mem::forget(index);
            memory.keys
        }
        Some("rows") => {
            let mut n = 0;
            store.each_key(&mut |_| n += 1).await?;
            n
        }
        Some("snapshot") => {
            let file = std::path::PathBuf::from(args.get(3).expect(usage));
            let index = snapshot::load(&file, store.as_ref())
                .await?
                .expect("the snapshot is valid for this database");
            let memory = index.key_memory();
            eprintln!("snapshot: {} B a key counted", memory.bytes_per_key());
            std::mem::forget(index);
            memory.keys
        }
        Some("records") => {
            let keys: HashMap<KeyHash, Arc<KeyRecord>> = store
                .all_keys()
                .await?
                .into_iter()
                .map(|key| (key.hash, Arc::new(key)))
                .collect();
            let n = keys.len();
            std::mem::forget(keys);
            n
        }
        _ => anyhow::bail!(usage),
    };
    let elapsed = started.elapsed();
    let (rss, peak) = memory_mib();
    println!(
        "{} keys loaded in {:.2} s; resident {} MiB ({} MiB before), peak {} MiB",
        keys,
        elapsed.as_secs_f64(),
        rss,
        before,
        peak
    );
    Ok(())
}
