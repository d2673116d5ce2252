//! The tenant isolation matrix: every endpoint that names an object, called with a second
//! workspace's root key (holding every right) on workspace A's objects, answers exactly as it
//! does for an id that does not exist — same status, same body — and changes nothing in A:
//! A's keys, audit trail (event count and chain) and settings are untouched.

use crate::helpers::{send, settings, spawn_app_with, unissued_key, Answer, Api, PREFIX};
use reqwest::Method;
use serde_json::{json, Value};

const UNKNOWN_KEY_ID: &str = "key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21";
const UNKNOWN_ROOT_ID: &str = "rk_0192f0c5e3a27d4c9b1e8f3a6d5c4b21";

async fn call(api: &Api<'_>, method: &Method, path: &str, body: &Option<Value>) -> Answer {
    let mut request = api.request(method.clone(), path);
    if let Some(body) = body {
        request = request.json(body);
    }
    send(request).await
}

/// Every call that names an object, as a template over `{id}` (a key id) or `{rk}` (a root
/// key id).
fn object_calls() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/v1/keys/{id}", None),
        (
            Method::PATCH,
            "/v1/keys/{id}",
            Some(json!({"enabled": false})),
        ),
        (
            Method::PATCH,
            "/v1/keys/{id}",
            Some(json!({"name": "Hijacked", "permissions": ["*"]})),
        ),
        (
            Method::POST,
            "/v1/keys/{id}/revoke",
            Some(json!({"reason": "hostile"})),
        ),
        (
            Method::POST,
            "/v1/keys/{id}/rotate",
            Some(json!({"grace_period_seconds": 0})),
        ),
        (
            Method::POST,
            "/v1/keys/{id}/rotate",
            Some(json!({"grace_period_seconds": 3600})),
        ),
        (Method::GET, "/v1/keys?owner_id=cust_a", None),
        (Method::GET, "/v1/keys?cursor={id}", None),
        (Method::GET, "/v1/audit?key_id={id}", None),
        (Method::GET, "/v1/audit/export?key_id={id}", None),
        (Method::POST, "/v1/root-keys/{rk}/revoke", Some(json!({}))),
    ]
}

#[tokio::test]
async fn a_second_workspace_sees_nothing_and_changes_nothing() {
    let app = spawn_app_with(2);
    let a = app.as_root(&app.workspaces[0].root_key);
    let b = app.as_root(&app.workspaces[1].root_key);
    let a_key = a
        .create_key_ok(&json!({"name": "A's key", "owner_id": "cust_a", "permissions": ["x:y"]}))
        .await;
    let a_id = a_key["id"].as_str().unwrap().to_owned();
    let a_plain = a_key["key"].as_str().unwrap().to_owned();
    let a_root = a
        .create_root_key("A's second root", &["keys:verify"])
        .await
        .expect(201)
        .clone();
    let a_root_id = a_root["id"].as_str().unwrap().to_owned();
    let a_audit = a.get("/v1/audit?limit=100").await.expect(200).clone();
    let a_workspace = a.get("/v1/workspace").await.expect(200).clone();
    let a_policy = a.get("/v1/policy").await.expect(200).clone();

    for (method, template, body) in object_calls() {
        let foreign = template.replace("{id}", &a_id).replace("{rk}", &a_root_id);
        let unknown = template
            .replace("{id}", UNKNOWN_KEY_ID)
            .replace("{rk}", UNKNOWN_ROOT_ID);
        let on_foreign = call(&b, &method, &foreign, &body).await;
        let on_unknown = call(&b, &method, &unknown, &body).await;
        assert!(
            on_foreign.status.as_u16() < 500,
            "{method} {foreign}: {}",
            on_foreign.text
        );
        assert_eq!(
            (on_foreign.status, &on_foreign.text),
            (on_unknown.status, &on_unknown.text),
            "{method} {template}: another workspace's object must answer as a missing one"
        );
        assert!(
            !on_foreign.text.contains(&a_id),
            "{method} {foreign} leaks A's id"
        );
    }

    // Verification of A's key with B's root key: exactly an unknown key's answer.
    let foreign = b.verify(&a_plain, Some("x:y")).await;
    let unknown = b.verify(&unissued_key(PREFIX), Some("x:y")).await;
    assert_eq!(foreign.status, unknown.status);
    assert_eq!(foreign.json["code"], "NOT_FOUND", "{}", foreign.text);
    assert_eq!(
        foreign.json, unknown.json,
        "verify must not tell foreign from unknown"
    );

    // B's lists hold only B's things.
    assert!(b.list_all_ids("").await.is_empty());
    let b_audit = b.get("/v1/audit?limit=100").await.expect(200).clone();
    assert!(
        !b_audit.to_string().contains(&a_id),
        "B's audit shows A's key"
    );
    let b_export = b.get("/v1/audit/export").await;
    assert!(!b_export.text.contains(&a_id), "B's export shows A's key");
    let b_roots = b.get("/v1/root-keys").await.expect(200).clone();
    assert!(!b_roots.to_string().contains(&a_root_id));
    // B changing its own workspace and policy leaves A's alone.
    b.patch("/v1/workspace", &json!({"name": "B renamed"}))
        .await;
    call(
        &b,
        &Method::PUT,
        "/v1/policy",
        &Some(json!({"max_key_lifetime_seconds": 60})),
    )
    .await;

    // A is untouched: the key, the audit trail (no event from B's attempts), the settings.
    let shown = a.show_key(&a_id).await.expect(200).clone();
    assert_eq!(settings(&shown), settings(&a_key));
    // Verifying is an event too, so compare the trail before A's own verification.
    assert_eq!(a.get("/v1/audit?limit=100").await.expect(200), &a_audit);
    assert_eq!(a.verify_code(&a_plain, Some("x:y")).await, "VALID");
    let a_verifier = app.as_root(a_root["key"].as_str().unwrap());
    assert_eq!(a_verifier.verify_code(&a_plain, None).await, "VALID");
    assert_eq!(a.get("/v1/workspace").await.expect(200), &a_workspace);
    assert_eq!(a.get("/v1/policy").await.expect(200), &a_policy);
    let chain = a.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(chain["valid"], json!(true), "{chain}");
}
