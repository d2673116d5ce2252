//! Reading the audit trail over HTTP and through the binary, shared by the audit, crash-safety
//! and tenancy tests.

use crate::helpers::{contains_bytes, describe, keyward, secret_part, Api, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Output;

pub(crate) const STRIPE: &str = "Stripe Invoice Sending Integration";

pub(crate) const XERO: &str = "Xero Payroll Sync";

pub(crate) const IP: &str = "203.0.113.7";

/// One page of `GET /v1/audit?<query>`, asserting `200`.
pub(crate) async fn page(api: &Api<'_>, query: &str) -> Value {
    api.get(&format!("/v1/audit?{query}"))
        .await
        .expect(200)
        .clone()
}

/// The events of one page body.
pub(crate) fn events_of(page: &Value) -> Vec<Value> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit page without `events`: {page}"))
        .clone()
}

/// Every event matching `query`, newest first, in one page (asserting there is no next one).
pub(crate) async fn events(api: &Api<'_>, query: &str) -> Vec<Value> {
    let body = page(api, &format!("{query}&limit=1000")).await;
    assert_eq!(
        body["next_cursor"],
        Value::Null,
        "more than one page: {body}"
    );
    events_of(&body)
}

/// `GET /v1/audit/export?<query>`: asserts NDJSON, one JSON object per `\n`-terminated line.
pub(crate) async fn export(api: &Api<'_>, query: &str) -> Vec<Value> {
    let answer = api.get(&format!("/v1/audit/export?{query}")).await;
    answer.expect(200);
    assert_eq!(answer.header("content-type"), "application/x-ndjson");
    ndjson(&answer.text)
}

pub(crate) fn ndjson(text: &str) -> Vec<Value> {
    if text.is_empty() {
        return Vec::new();
    }
    assert!(
        text.ends_with('\n'),
        "the last line is unterminated: {text:?}"
    );
    text.trim_end_matches('\n')
        .split('\n')
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line:?}"));
            assert!(value.is_object(), "export line is not an object: {line}");
            value
        })
        .collect()
}

/// `GET /v1/audit/verify`, asserting `200`.
pub(crate) async fn chain(api: &Api<'_>) -> Value {
    api.get("/v1/audit/verify").await.expect(200).clone()
}

#[track_caller]
pub(crate) fn assert_intact(check: &Value, events: usize) {
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["events"], json!(events), "{check}");
    assert!(check.get("first_bad_seq").is_none(), "{check}");
}

/// `POST /v1/verify` with what the calling service says it is doing; returns the `code`.
pub(crate) async fn verify(
    api: &Api<'_>,
    key: &str,
    permission: &str,
    action: &str,
    resource: &str,
) -> String {
    let body = api
        .post(
            "/v1/verify",
            &json!({
                "key": key,
                "permission": permission,
                "action": action,
                "resource": resource,
                "ip": IP,
            }),
        )
        .await
        .expect(200)
        .clone();
    body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("verify answered no code: {body}"))
        .to_owned()
}

/// The id of the workspace's initial root key (the only one `keyward init` made).
pub(crate) async fn initial_root_key_id(api: &Api<'_>) -> String {
    let roots = api.get("/v1/root-keys").await.expect(200).clone();
    let roots = roots.as_array().expect("a list of root keys");
    assert_eq!(roots.len(), 1, "{roots:?}");
    roots[0]["id"].as_str().expect("a root key id").to_owned()
}

pub(crate) fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event[field]
        .as_str()
        .unwrap_or_else(|| panic!("event without {field:?}: {event}"))
}

pub(crate) fn field_set(events: &[Value], field: &str) -> BTreeSet<String> {
    events.iter().map(|e| text(e, field).to_owned()).collect()
}

pub(crate) fn seqs(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["seq"].as_i64().unwrap_or_else(|| panic!("no seq: {e}")))
        .collect()
}

/// Runs `keyward <args>` against the app as its initial root key; asserts the root key is
/// not printed.
pub(crate) fn cli(app: &TestApp, args: &[&str]) -> Output {
    let out = keyward()
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_ROOT_KEY", app.root_key())
        .args(args)
        .output()
        .expect("running the keyward CLI");
    let secret = secret_part(app.root_key()).as_bytes();
    assert!(
        !contains_bytes(&out.stdout, secret) && !contains_bytes(&out.stderr, secret),
        "the root key was printed: {}",
        describe(&out)
    );
    out
}

#[track_caller]
pub(crate) fn exit_code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {}", describe(out)))
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
