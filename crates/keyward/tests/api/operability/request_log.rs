//! One log line per request, with its request id: the client's `X-Request-Id` when it is
//! safe, else a new one, returned either way; JSON lines with `KEYWARD_LOG_FORMAT=json`.

use crate::helpers::{spawn_app, spawn_process_app_env, NewKey};
use keyward_client::Method;
use serde_json::{json, Value};

/// The log's request lines (JSON) for `route`.
fn request_lines(log: &str, route: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "request" && line["route"] == route)
        .collect()
}

#[tokio::test]
async fn a_safe_request_id_is_echoed_and_logged() {
    let app = spawn_app();
    let api = app.api();
    let request = api
        .request(Method::GET, "/healthz")
        .header("X-Request-Id", "checkout-7f3a:retry.2");
    let answer = api.send(request).await;
    answer.expect(200);
    assert_eq!(answer.header("x-request-id"), "checkout-7f3a:retry.2");
    let log = app.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("keyward::request") && l.contains("checkout-7f3a:retry.2")),
        "{log}"
    );
}

#[tokio::test]
async fn a_missing_or_unsafe_request_id_is_replaced_by_a_new_one() {
    let app = spawn_app();
    let api = app.api();
    let key = NewKey::from(
        &api.create_key_ok(&json!({"name": "Payroll Export Integration"}))
            .await,
    );
    let too_long = "a".repeat(129);
    let mut seen = Vec::new();
    for sent in [
        None,
        Some("has spaces"),
        Some(too_long.as_str()),
        Some("x\"y"),
        Some(key.key.as_str()),
    ] {
        let mut request = api.request(Method::GET, "/healthz");
        if let Some(sent) = sent {
            request = request.header("X-Request-Id", sent);
        }
        let answer = api.send(request).await;
        answer.expect(200);
        let id = answer.header("x-request-id");
        assert_ne!(Some(id.as_str()), sent);
        // A UUID (v7): 36 characters, hyphens at 8, 13, 18 and 23.
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.as_bytes()[14], b'7', "{id}");
        assert!(!seen.contains(&id), "request ids are unique");
        seen.push(id);
    }
    // The key sent as a request id appears nowhere in the log (checked for every secret when
    // the app is dropped, too).
    assert!(!app.log_text().contains(&key.key));
}

#[tokio::test]
async fn json_log_lines_parse_and_carry_the_request_fields() {
    let app = spawn_process_app_env(1, &[("KEYWARD_LOG_FORMAT", "json")]);
    let api = app.api();
    let key = NewKey::from(
        &api.create_key_ok(&json!({"name": "Payroll Export Integration"}))
            .await,
    );
    let request = api
        .request(Method::POST, "/v1/verify")
        .header("X-Request-Id", "req-json-1")
        .json(&json!({"key": key.key}));
    api.send(request).await.expect(200);
    let root_id = api.get("/v1/root-keys").await.expect(200)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The line is written after the answer: wait for it.
    app.wait_for_log("req-json-1");
    let log = app.log_text();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let lines = request_lines(&log, "/v1/verify");
    assert_eq!(lines.len(), 1, "{log}");
    let line = &lines[0];
    assert_eq!(line["method"], "POST");
    assert_eq!(line["status"], 200);
    assert!(line["latency_us"].as_u64().is_some(), "{line}");
    assert_eq!(line["request_id"], "req-json-1");
    assert_eq!(line["key_id"], json!(key.id));
    assert_eq!(line["root_key_id"], json!(root_id));
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].is_string());
    let created = request_lines(&log, "/v1/keys");
    assert_eq!(created[0]["status"], 201, "{log}");
    assert!(created[0]["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
}
