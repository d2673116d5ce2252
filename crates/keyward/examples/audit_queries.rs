//! How long each audit filter the dashboard and the API offer takes as the trail grows: fills
//! one workspace's trail to each size in turn (direct SQL inserts generated in bulk; a recursive
//! CTE on SQLite, `generate_series` on PostgreSQL), then reads the first page of 50 for each
//! filter through `Store::events`, the path the API takes, and prints the median of several
//! reads against the unfiltered first page read at the same size. With `ingest`, how fast the
//! trail fills with and without migration 0013's two indexes, on two fresh databases.
//!
//!     audit_queries <database url> [sizes, e.g. 1000000,10000000]
//!     audit_queries <database url> ingest <events>
//!
//! The URL names a database (a SQLite file, or a PostgreSQL database) it may fill: an empty
//! one, or one an earlier run filled, which it resumes (a size it already holds is read at the
//! size it holds). The trail is one workspace with a thousand keys, fifty actions cycling in blocks of a thousand
//! events, one event in 997 refused, one in a thousand a management event, an event every 10 ms.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use keyward_core::{AuditFilter, EventOutcome, Store, VerifyCode};
use keyward_postgres::PostgresStore;
use keyward_sqlite::SqliteStore;
use std::time::Instant;

const WORKSPACE: &str = "ws_bench";
/// Milliseconds between events.
const STEP_MS: i64 = 10;
/// Rows per insert statement (and transaction).
const CHUNK: i64 = 500_000;
/// How often the fill reports its progress on stderr, in events.
const PROGRESS_EVERY: i64 = 10_000_000;
/// Reads per filter; the median is reported.
const READS: usize = 21;

/// The database being filled, with its own connection for the bulk inserts.
enum Target {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Target {
    async fn open(url: &str) -> anyhow::Result<(Box<dyn Store>, Target)> {
        if PostgresStore::is_postgres_url(url) {
            let timeouts = keyward_postgres::Timeouts {
                call: std::time::Duration::from_secs(600),
                statement: std::time::Duration::from_secs(600),
                ..keyward_postgres::Timeouts::default()
            };
            let store = PostgresStore::connect_with(url, timeouts)?;
            store.migrate().await?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            Ok((Box::new(store), Target::Postgres(pool)))
        } else {
            let store = SqliteStore::connect(url).await?;
            store.migrate().await?;
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            // The names the generated rows refer to: the workspace, two kinds, two outcomes,
            // a thousand keys.
            sqlx::query(
                "INSERT OR IGNORE INTO audit_names (id, value) VALUES (1, 'ws_bench'), \
                 (2, 'key.verified'), (3, 'key.updated'), (4, 'VALID'), (5, 'RATE_LIMITED')",
            )
            .execute(&pool)
            .await?;
            sqlx::query(
                "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 999) \
                 INSERT OR IGNORE INTO audit_names (id, value) SELECT 100 + i, 'key_' || i FROM k",
            )
            .execute(&pool)
            .await?;
            Ok((Box::new(store), Target::Sqlite(pool)))
        }
    }

    /// Appends events `from..=to` (their seq), the first at `base_ms`.
    async fn fill(&self, from: i64, to: i64, base_ms: i64) -> anyhow::Result<()> {
        let mut start = from;
        while start <= to {
            let end = (start + CHUNK - 1).min(to);
            match self {
                Target::Sqlite(pool) => {
                    sqlx::query(
                        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n \
                         WHERE i < ?2) \
                         INSERT INTO audit_events (workspace_id, seq, id, time, kind, key_id, \
                         action, outcome, prev_hash, hash) \
                         SELECT 1, i, 'ev_' || i, ?3 + i * 10, \
                         CASE WHEN i % 1000 = 0 THEN 3 ELSE 2 END, 100 + i % 1000, \
                         'invoices.' || ((i / 1000) % 50), \
                         CASE WHEN i % 997 = 0 THEN 5 ELSE 4 END, zeroblob(32), zeroblob(32) \
                         FROM n",
                    )
                    .bind(start)
                    .bind(end)
                    .bind(base_ms)
                    .execute(pool)
                    .await?;
                }
                Target::Postgres(pool) => {
                    sqlx::query(
                        "INSERT INTO audit_events (workspace_id, seq, id, time, kind, key_id, \
                         action, outcome, prev_hash, hash) \
                         SELECT 'ws_bench', i, 'ev_' || i, $3 + i * 10, \
                         CASE WHEN i % 1000 = 0 THEN 'key.updated' ELSE 'key.verified' END, \
                         'key_' || (i % 1000), 'invoices.' || ((i / 1000) % 50), \
                         CASE WHEN i % 997 = 0 THEN 'RATE_LIMITED' ELSE 'VALID' END, \
                         repeat('0', 64), repeat('0', 64) \
                         FROM generate_series($1::bigint, $2::bigint) AS i",
                    )
                    .bind(start)
                    .bind(end)
                    .bind(base_ms)
                    .execute(pool)
                    .await?;
                }
            }
            if end / PROGRESS_EVERY > (start - 1) / PROGRESS_EVERY {
                eprintln!("filled {end} events");
            }
            start = end + 1;
        }
        Ok(())
    }

    /// The newest event an earlier run filled and the time it put its first event at (each
    /// event [`STEP_MS`] after the one before); `None` in an empty database.
    async fn filled(&self) -> anyhow::Result<Option<(i64, i64)>> {
        let newest = |workspace: &str| {
            format!(
                "SELECT seq, time - seq * {STEP_MS} FROM audit_events \
                 WHERE workspace_id = {workspace} ORDER BY seq DESC LIMIT 1"
            )
        };
        Ok(match self {
            Target::Sqlite(pool) => sqlx::query_as(&newest("1")).fetch_optional(pool).await?,
            Target::Postgres(pool) => {
                sqlx::query_as(&newest("'ws_bench'"))
                    .fetch_optional(pool)
                    .await?
            }
        })
    }

    /// Statistics for the planner, as a maintained database has them.
    async fn analyze(&self) -> anyhow::Result<()> {
        match self {
            Target::Sqlite(pool) => {
                sqlx::query("ANALYZE").execute(pool).await?;
            }
            Target::Postgres(pool) => {
                sqlx::query("ANALYZE audit_events").execute(pool).await?;
            }
        }
        Ok(())
    }

    async fn drop_new_indexes(&self) -> anyhow::Result<()> {
        let sql = "DROP INDEX audit_events_key_action; DROP INDEX audit_events_outcome";
        match self {
            Target::Sqlite(pool) => {
                sqlx::raw_sql(sql).execute(pool).await?;
            }
            Target::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(pool).await?;
            }
        }
        Ok(())
    }
}

/// The filters timed, named, for a trail whose newest event is at `newest`.
fn filters(newest: DateTime<Utc>) -> Vec<(&'static str, AuditFilter)> {
    let some = |s: &str| Some(s.to_owned());
    let hour = Some(newest - Duration::hours(1));
    let refused = Some(EventOutcome::Verify(VerifyCode::RateLimited));
    vec![
        ("newest (baseline)", AuditFilter::default()),
        (
            "key",
            AuditFilter {
                key_id: some("key_7"),
                ..AuditFilter::default()
            },
        ),
        (
            "key + action",
            AuditFilter {
                key_id: some("key_7"),
                action: some("invoices.7"),
                ..AuditFilter::default()
            },
        ),
        (
            "action + last hour",
            AuditFilter {
                action: some("invoices.7"),
                since: hour,
                ..AuditFilter::default()
            },
        ),
        (
            "outcome + last hour",
            AuditFilter {
                outcome: refused,
                since: hour,
                ..AuditFilter::default()
            },
        ),
        (
            "outcome",
            AuditFilter {
                outcome: refused,
                ..AuditFilter::default()
            },
        ),
        (
            "last hour",
            AuditFilter {
                since: hour,
                ..AuditFilter::default()
            },
        ),
    ]
}

/// The median time of [`READS`] reads of the first page, in milliseconds, and the page's size.
async fn time_filter(store: &dyn Store, filter: &AuditFilter) -> anyhow::Result<(f64, usize)> {
    let filter = AuditFilter {
        limit: 50,
        ..filter.clone()
    };
    let mut times = Vec::with_capacity(READS);
    let mut found = 0;
    for _ in 0..READS {
        let started = Instant::now();
        found = store.events(WORKSPACE, &filter).await?.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[READS / 2], found))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: audit_queries <database url> [sizes] | <database url> ingest <events>";
    let url = args.get(1).expect(usage);
    let base_ms = Utc::now().timestamp_millis();
    if args.get(2).map(String::as_str) == Some("ingest") {
        // Two databases: the URL as given, and the same with `-plain` appended (a file, or a
        // PostgreSQL database that must exist and be empty as well).
        let events: i64 = args.get(3).expect(usage).parse()?;
        let plain_url = format!("{url}-plain");
        for (name, url, drop) in [
            ("with 0013's indexes", url.as_str(), false),
            ("without them", plain_url.as_str(), true),
        ] {
            let (_store, target) = Target::open(url).await?;
            if drop {
                target.drop_new_indexes().await?;
            }
            let started = Instant::now();
            target.fill(1, events, base_ms).await?;
            let rate = events as f64 / started.elapsed().as_secs_f64();
            println!("| {name} | {events} | {rate:.0} |");
        }
        return Ok(());
    }
    let sizes: Vec<i64> = args
        .get(2)
        .map_or("100000,1000000", String::as_str)
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let (store, target) = Target::open(url).await?;
    let (mut filled, base_ms) = target.filled().await?.unwrap_or((0, base_ms));
    println!("| events | filter | first page of 50, median ms | × newest | rows |");
    println!("|---:|---|---:|---:|---:|");
    for size in sizes {
        let size = size.max(filled);
        let started = Instant::now();
        target.fill(filled + 1, size, base_ms).await?;
        eprintln!(
            "filled to {size} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        filled = size;
        target.analyze().await?;
        let newest = DateTime::from_timestamp_millis(base_ms + size * STEP_MS).expect("a time");
        // One read of each first, so every connection of the pool has its statements prepared.
        for (_, filter) in filters(newest) {
            store.events(WORKSPACE, &filter).await?;
        }
        let mut baseline = None;
        for (name, filter) in filters(newest) {
            let (ms, rows) = time_filter(store.as_ref(), &filter).await?;
            let base = *baseline.get_or_insert(ms);
            println!("| {size} | {name} | {ms:.2} | {:.1} | {rows} |", ms / base);
        }
    }
    Ok(())
}
