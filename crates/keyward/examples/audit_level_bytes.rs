//! Bytes on disk per verification at each audit level: N verifications through the real
//! router, over a SQLite file opened as `keyward serve` opens it (group commit, audit
//! journal), with a `ManualClock` moved at a set request rate so aggregates span real
//! minutes; then the pages the audit tables and their indexes occupy (SQLite's `dbstat`),
//! less what they held before the traffic, divided by N. `all` is the baseline of the ratios.
//!
//!     audit_level_bytes [verifications] [requests per second] [keys] [networks]
//!
//! Traffic: keys × networks clients, each verification one of three read actions, one in a
//! hundred a delete, one in fifty an unknown key. Levels: the workspace-wide
//! `verification_audit` (`all`, `failures`, `aggregate`, `none`) and `rules` (deletes `all`,
//! `*.read` aggregated, the rest `failures`).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Method, Request};
use chrono::{Duration, TimeZone, Utc};
use keyward::database::{self, Purpose};
use keyward_app::{bootstrap, Keyward};
use keyward_core::{Clock, ManualClock};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

/// Verifications in flight at once, so group commit batches them as under load.
const CONCURRENCY: usize = 64;

async fn call(app: &axum::Router, token: &str, method: Method, path: &str, body: Value) -> Value {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Bytes of the pages holding the audit trail (events, interned names and their indexes),
/// and how many verification events it holds.
async fn audit_size(url: &str) -> (i64, i64) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let bytes: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN \
         (SELECT name FROM sqlite_master WHERE tbl_name IN ('audit_events', 'audit_names'))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events e JOIN audit_names n ON n.id = e.kind \
         WHERE n.value = 'key.verified'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    (bytes, events)
}

struct Traffic {
    n: usize,
    rate: u64,
    keys: usize,
    networks: usize,
}

/// Runs the traffic at `level`; returns (bytes per verification, events written).
async fn run(level: &str, traffic: &Traffic) -> (f64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let db = database::open(
        &url,
        Purpose::Serve {
            audit_journal: None,
        },
    )
    .await
    .unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let created = bootstrap::create_workspace(db.store.as_ref(), clock.as_ref(), "Bench", "bos")
        .await
        .unwrap();
    let state = Keyward::load(db.store.clone(), clock.clone())
        .await
        .unwrap();
    let app = keyward_server::router(state.clone());
    let root = created.root_key.expose().to_owned();
    let settings = if level == "rules" {
        json!({"verification_audit": "failures", "audit_rules": [
            {"pattern": "invoices.delete", "level": "all"},
            {"pattern": "*.read", "level": "aggregate"},
        ]})
    } else {
        json!({"verification_audit": level})
    };
    call(&app, &root, Method::PATCH, "/v1/workspace", settings).await;
    let mut keys = Vec::new();
    for i in 0..traffic.keys {
        let body = json!({"name": format!("Service {i}"), "permissions": ["invoices:*"]});
        let created = call(&app, &root, Method::POST, "/v1/keys", body).await;
        keys.push(created["key"].as_str().unwrap().to_owned());
    }
    let unknown = format!("{}x", &keys[0][..keys[0].len() - 1]);
    let before = {
        let count = state.flush_aggregates(true).await.unwrap();
        assert_eq!(count, 0);
        audit_size(&url).await
    };
    let step = Duration::microseconds(1_000_000 / i64::try_from(traffic.rate).unwrap());
    let mut minute = clock.now().timestamp() / 60;
    let mut sent = 0;
    while sent < traffic.n {
        let batch = CONCURRENCY.min(traffic.n - sent);
        let calls = (sent..sent + batch).map(|i| {
            let (app, root) = (app.clone(), root.clone());
            let key = if i % 50 == 49 {
                unknown.clone()
            } else {
                keys[i % keys.len()].clone()
            };
            let action = match i % 100 {
                99 => "invoices.delete",
                r if r % 3 == 0 => "invoices.read",
                r if r % 3 == 1 => "customers.read",
                _ => "payments.read",
            };
            let ip = format!("198.51.{}.{}", (i / keys.len()) % traffic.networks, i % 200);
            async move {
                let body = json!({"key": key, "permission": "invoices:read", "action": action,
                    "resource": format!("INV-{i}"), "ip": ip});
                call(&app, &root, Method::POST, "/v1/verify", body).await
            }
        });
        futures_util::future::join_all(calls).await;
        sent += batch;
        clock.advance(step * i32::try_from(batch).unwrap());
        let now_minute = clock.now().timestamp() / 60;
        if now_minute != minute {
            minute = now_minute;
            state.flush_aggregates(false).await.unwrap();
        }
    }
    state.flush_aggregates(true).await.unwrap();
    drop(app);
    drop(state);
    // Every journaled event taken into the database file, as at a clean stop.
    db.close().await;
    let after = audit_size(&url).await;
    (
        (after.0 - before.0) as f64 / traffic.n as f64,
        after.1 - before.1,
    )
}

#[tokio::main]
async fn main() {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let traffic = Traffic {
        n: usize::try_from(arg(1, 30_000)).unwrap(),
        rate: arg(2, 250),
        keys: usize::try_from(arg(3, 20)).unwrap(),
        networks: usize::try_from(arg(4, 4)).unwrap(),
    };
    println!(
        "{} verifications at {}/s ({} keys, {} networks, 3 read actions, 1% deletes, 2% unknown)",
        traffic.n, traffic.rate, traffic.keys, traffic.networks
    );
    println!("| level | bytes per verification | ratio to all | verification events written |");
    println!("|---|---|---|---|");
    let mut baseline = None;
    for level in ["all", "failures", "aggregate", "rules", "none"] {
        let (bytes, events) = run(level, &traffic).await;
        let base = *baseline.get_or_insert(bytes);
        println!(
            "| {level} | {bytes:.1} | {:.3} | {events} |",
            if base > 0.0 { bytes / base } else { 0.0 }
        );
    }
}
