//! A bounded load test against the real binary on loopback: 64 concurrent connections of
//! mixed traffic (verify, create, show, list, update, revoke, rotate, unknown and malformed
//! keys) for `KEYWARD_LOAD_SECS` seconds (default 10; the full run is 30, see SECURITY.md).
//! Every answer is the documented code for its call, there is no `5xx` and no panic in the
//! server's log, and the peak RSS (`VmHWM`) is reported. It stops itself at the deadline.

use crate::helpers::{spawn_process_app, unissued_key, Api, NewKey, PREFIX};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;

fn duration() -> Duration {
    let secs = std::env::var("KEYWARD_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

fn proc_status(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    /// Sends one call, asserting its status is one of `allowed`.
    async fn call(
        &self,
        api: &Api<'_>,
        what: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        allowed: &[u16],
    ) -> Value {
        let mut request = api.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = api.send(request).await;
        let status = answer.status.as_u16();
        assert!(status < 500, "{what} answered {status}: {}", answer.text);
        assert!(
            allowed.contains(&status),
            "{what} answered {status}, not one of {allowed:?}: {}",
            answer.text
        );
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{what} {status}"))
            .or_default() += 1;
        answer.json
    }
}

async fn worker(api: Api<'_>, tally: &Tally, worker: usize, deadline: Instant) {
    let mut mine: Vec<NewKey> = Vec::new();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        n += 1;
        match n % 20 {
            // Each connection keeps a few live keys of its own.
            _ if mine.len() < 3 => {
                let body =
                    json!({"name": format!("load {worker} {n}"), "permissions": ["docs:read"]});
                let created = tally
                    .call(&api, "create", Method::POST, "/v1/keys", Some(body), &[201])
                    .await;
                mine.push(NewKey::from(&created));
            }
            0 => {
                let body =
                    json!({"name": format!("load {worker} {n}"), "permissions": ["docs:read"]});
                let created = tally
                    .call(&api, "create", Method::POST, "/v1/keys", Some(body), &[201])
                    .await;
                mine.push(NewKey::from(&created));
            }
            1 if !mine.is_empty() => {
                let key = mine.remove(0);
                tally
                    .call(
                        &api,
                        "revoke",
                        Method::POST,
                        &format!("/v1/keys/{}/revoke", key.id),
                        Some(json!({})),
                        &[200],
                    )
                    .await;
                let answer = tally
                    .call(
                        &api,
                        "verify",
                        Method::POST,
                        "/v1/verify",
                        Some(json!({"key": key.key})),
                        &[200],
                    )
                    .await;
                assert_eq!(answer["code"], "REVOKED", "{answer}");
            }
            2 if !mine.is_empty() => {
                let key = mine.remove(0);
                let body = json!({"grace_period_seconds": 0});
                let new = tally
                    .call(
                        &api,
                        "rotate",
                        Method::POST,
                        &format!("/v1/keys/{}/rotate", key.id),
                        Some(body),
                        &[201],
                    )
                    .await;
                mine.push(NewKey::from(&new));
            }
            3 => {
                tally
                    .call(&api, "list", Method::GET, "/v1/keys?limit=20", None, &[200])
                    .await;
            }
            4 if !mine.is_empty() => {
                let id = &mine[0].id;
                tally
                    .call(
                        &api,
                        "show",
                        Method::GET,
                        &format!("/v1/keys/{id}"),
                        None,
                        &[200],
                    )
                    .await;
                let body = json!({"name": format!("load {worker} {n} renamed")});
                tally
                    .call(
                        &api,
                        "update",
                        Method::PATCH,
                        &format!("/v1/keys/{id}"),
                        Some(body),
                        &[200],
                    )
                    .await;
            }
            5 => {
                let answer = tally
                    .call(
                        &api,
                        "verify",
                        Method::POST,
                        "/v1/verify",
                        Some(json!({"key": unissued_key(PREFIX)})),
                        &[200],
                    )
                    .await;
                assert_eq!(answer["code"], "NOT_FOUND", "{answer}");
            }
            6 => {
                tally
                    .call(
                        &api,
                        "verify",
                        Method::POST,
                        "/v1/verify",
                        Some(json!({"key": "not a key at all"})),
                        &[200],
                    )
                    .await;
                tally
                    .call(
                        &api,
                        "verify",
                        Method::POST,
                        "/v1/verify",
                        Some(json!({"key": 7})),
                        &[400],
                    )
                    .await;
            }
            _ => match mine.last() {
                Some(_) if n % 50 == 7 => {
                    tally
                        .call(&api, "healthz", Method::GET, "/healthz", None, &[200])
                        .await;
                }
                Some(key) => {
                    let body = json!({"key": key.key, "permission": "docs:read"});
                    let answer = tally
                        .call(
                            &api,
                            "verify",
                            Method::POST,
                            "/v1/verify",
                            Some(body),
                            &[200],
                        )
                        .await;
                    assert_eq!(answer["code"], "VALID", "{answer}");
                }
                None => {
                    tally
                        .call(&api, "healthz", Method::GET, "/healthz", None, &[200])
                        .await;
                }
            },
        }
    }
}

#[tokio::test]
async fn bounded_mixed_load_has_no_5xx_no_panic_and_reports_peak_rss() {
    let app = spawn_process_app();
    let pid = app.pid();
    let tally = Tally(Mutex::new(BTreeMap::new()));
    let length = duration();
    let started = Instant::now();
    let deadline = started + length;
    let workers = (0..CONNECTIONS).map(|w| worker(app.api(), &tally, w, deadline));
    futures_util::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let peak = proc_status(pid, "VmHWM:");
    let now = proc_status(pid, "VmRSS:");
    let tally = tally.0.into_inner().unwrap();
    let total: u64 = tally.values().sum();
    println!(
        "load: {CONNECTIONS} connections, {:.1} s, {total} requests ({:.0}/s); peak RSS {peak}, RSS at end {now}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    for (call, count) in &tally {
        println!("  {call}: {count}");
    }
    assert!(total > 0);
    let log = app.log_text();
    assert!(
        !log.contains("panicked"),
        "the server panicked under load:\n{log}"
    );
    // The chain is intact after all that.
    let chain = app.api().get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(chain["valid"], json!(true), "{chain}");
}
