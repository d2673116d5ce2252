//! In-process benchmarks of the verify path (criterion): whole requests through
//! `router(state)` with `tower::ServiceExt::oneshot` against `GET /healthz` through the same
//! router as the baseline, the domain steps alone, key creation, permission expressions and
//! what recording one request's metrics costs.
//! Run with `cargo bench -p keyward-server --bench verify`; the HTTP load benchmark is
//! `scripts/bench`.
//!
//! The store is a temp-file SQLite database (WAL, `synchronous = FULL`) with its audit
//! journal, as `keyward serve` runs it, so a lone verification waits for its own journal
//! `fdatasync`: the `router/*` rows measure the latency of one request on an idle server, not
//! its CPU cost. The `router-no-audit/*` rows
//! are the same requests in a workspace that records no verifications (CPU cost of the path).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use keyward_app::metrics::RequestLabels;
use keyward_app::SystemClock;
use keyward_app::{bootstrap, Keyward};
use keyward_core::{
    decide, ApiKey, Clock, KeyHash, PermissionQuery, Presented, Store, VerificationAudit,
    WorkspaceSettings,
};
use keyward_server::router;
use keyward_sqlite::{JournalOptions, SqliteStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

struct Fixture {
    state: Keyward,
    /// Built once, as `serve` does; each request clones it (cheap).
    app: axum::Router,
    root: String,
    valid: String,
    unknown: String,
    malformed: String,
    _dir: tempfile::TempDir,
}

async fn fixture(audit: VerificationAudit) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let journal = dir.path().join("bench.db.audit-journal");
    let store = store
        .with_audit_journal(&journal, JournalOptions::default())
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let created = bootstrap::create_workspace(store.as_ref(), clock.as_ref(), "Bench", "bench")
        .await
        .unwrap();
    let state = Keyward::load(store, clock).await.unwrap();
    let mut settings = WorkspaceSettings::defaults(&created.workspace.id);
    settings.verification_audit = audit;
    state.index().put_settings(settings);
    let root = created.root_key.expose().to_owned();
    let (status, body) = call(
        &router(state.clone()),
        "POST",
        "/v1/keys",
        &root,
        r#"{"name":"Stripe Invoice Sending Integration","permissions":["invoices:read","payroll:*"]}"#
            .into(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let created_key: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let valid = created_key["key"].as_str().unwrap().to_owned();
    let prefix = keyward_core::KeyPrefix::parse("bench").unwrap();
    let unknown = ApiKey::generate(&prefix).unwrap().expose().to_owned();
    // The right shape, a wrong checksum.
    let mut malformed = unknown.clone();
    let last = if malformed.ends_with('A') { "B" } else { "A" };
    malformed.replace_range(malformed.len() - 1.., last);
    Fixture {
        app: router(state.clone()),
        state,
        root,
        valid,
        unknown,
        malformed,
        _dir: dir,
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    root: &str,
    body: String,
) -> (StatusCode, bytes::Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {root}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn verify_body(key: &str) -> String {
    format!(r#"{{"key":"{key}","permission":"invoices:read AND (payroll:read OR payroll:admin)"}}"#)
}

fn bench_router(c: &mut Criterion, group_name: &str, audit: VerificationAudit) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture(audit));
    // Every request answers as expected before anything is timed.
    rt.block_on(async {
        for (key, code) in [
            (&f.valid, "VALID"),
            (&f.unknown, "NOT_FOUND"),
            (&f.malformed, "NOT_FOUND"),
        ] {
            let (status, body) =
                call(&f.app, "POST", "/v1/verify", &f.root, verify_body(key)).await;
            assert_eq!(status, StatusCode::OK);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["code"], code);
        }
    });
    let mut group = c.benchmark_group(group_name);
    group.bench_function("healthz (baseline)", |b| {
        b.to_async(&rt)
            .iter(|| call(&f.app, "GET", "/healthz", &f.root, String::new()))
    });
    for (name, key) in [
        ("verify valid key", &f.valid),
        ("verify unknown key", &f.unknown),
        ("verify malformed key", &f.malformed),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| call(&f.app, "POST", "/v1/verify", &f.root, verify_body(key)))
        });
    }
    if audit == VerificationAudit::All {
        let n = AtomicU64::new(0);
        group.bench_function("create key", |b| {
            b.to_async(&rt).iter(|| {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let body = format!(
                    r#"{{"name":"Payroll Export Integration {i}","permissions":["payroll:read"]}}"#
                );
                call(&f.app, "POST", "/v1/keys", &f.root, body)
            })
        });
    }
    group.finish();
}

fn router_benches(c: &mut Criterion) {
    bench_router(c, "router", VerificationAudit::All);
    bench_router(c, "router-no-audit", VerificationAudit::None);
}

fn domain_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture(VerificationAudit::All));
    let state = &f.state;
    let query =
        PermissionQuery::parse("invoices:read AND (payroll:read OR payroll:admin)").unwrap();
    let now = SystemClock.now();
    // parse → checksum → SHA-256 → index lookup → decide, as handlers/verify.rs does it.
    let path = |text: &str| {
        let key = ApiKey::parse(text)
            .ok()
            .and_then(|key| state.index().key(&KeyHash::of(key.expose())));
        let presented = Presented {
            required: Some(&query),
            ip: None,
            origin: None,
        };
        decide(key.as_deref(), &presented, now)
    };
    let mut group = c.benchmark_group("domain");
    group.bench_function("verify valid key", |b| b.iter(|| path(black_box(&f.valid))));
    group.bench_function("verify unknown key", |b| {
        b.iter(|| path(black_box(&f.unknown)))
    });
    group.bench_function("verify malformed key", |b| {
        b.iter(|| path(black_box(&f.malformed)))
    });
    group.bench_function("sha256 of a key", |b| {
        b.iter(|| KeyHash::of(black_box(&f.valid)))
    });
    let prefix = keyward_core::KeyPrefix::parse("bench").unwrap();
    group.bench_function("generate a key", |b| b.iter(|| ApiKey::generate(&prefix)));
    group.bench_function("parse permission expression", |b| {
        b.iter(|| {
            PermissionQuery::parse(black_box(
                "invoices:read AND (payroll:read OR payroll:admin)",
            ))
        })
    });
    let granted = state
        .index()
        .key(&KeyHash::of(&f.valid))
        .unwrap()
        .permissions
        .clone();
    group.bench_function("evaluate permission expression", |b| {
        b.iter(|| black_box(&query).is_satisfied_by(black_box(&granted)))
    });
    // What the metrics add to one verify request: the request's labels and latency
    // observation (`observe.rs`) and the verify-code counter (`Keyward::verify`).
    let metrics = state.metrics();
    group.bench_function("record one verify request's metrics", |b| {
        b.iter(|| {
            let labels = RequestLabels::new("POST", Some(black_box("/v1/verify")), 200);
            metrics.request(&labels, std::time::Duration::from_micros(40));
            metrics.verified(keyward_core::VerifyCode::Valid);
        })
    });
    // What the safety advice adds to a `VALID` verification: the sighting (an address parsed,
    // two checksums) and a non-blocking send; compare with "verify valid key" above. The
    // channel is drained between timed chunks, as the background task does every second.
    // (The bench clones the permission query, which verification moves: an upper bound.)
    let observer = keyward_app::advice::AdviceObserver::default();
    let key = state.index().key(&KeyHash::of(&f.valid)).unwrap();
    group.bench_function("hand a verification to the safety advice", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(50_000);
                let start = std::time::Instant::now();
                for _ in 0..chunk {
                    observer.observe(
                        &key,
                        keyward_core::advice::Sighting::new(
                            now,
                            Some(black_box("203.0.113.9")),
                            Some(black_box("https://shop.example")),
                            Some(black_box("billing/2.1 (linux)")),
                            Some(query.clone()),
                        ),
                    );
                }
                spent += start.elapsed();
                observer.drain();
                left -= chunk;
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, domain_benches, router_benches);
criterion_main!(benches);
