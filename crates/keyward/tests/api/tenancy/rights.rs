//! Authentication (root keys only, `401`) and rights (`403`): each right opens exactly its
//! own endpoints, a root key cannot grant rights it lacks, a revoked one is refused.

use crate::helpers::{spawn_app, Api, NewKey};
use crate::tenancy::support::{assert_untouched, STRIPE, UNKNOWN_ROOT_ID};
use reqwest::Method;
use serde_json::{json, Value};

/// Every endpoint that needs a root key, as (method, path, body, the right it needs) for the
/// key `id` and the root key `rk`.
fn protected_calls(
    id: &str,
    key: &str,
    rk: &str,
) -> Vec<(Method, String, Option<Value>, &'static str)> {
    vec![
        (
            Method::POST,
            "/v1/keys".into(),
            Some(json!({"name": "Payroll CSV Export"})),
            "keys:write",
        ),
        (Method::GET, "/v1/keys".into(), None, "keys:read"),
        (Method::GET, format!("/v1/keys/{id}"), None, "keys:read"),
        (
            Method::PATCH,
            format!("/v1/keys/{id}"),
            Some(json!({"enabled": false})),
            "keys:write",
        ),
        (
            Method::POST,
            format!("/v1/keys/{id}/revoke"),
            Some(json!({"reason": "attack"})),
            "keys:write",
        ),
        (
            Method::POST,
            format!("/v1/keys/{id}/rotate"),
            Some(json!({"grace_period_seconds": 0})),
            "keys:write",
        ),
        (
            Method::POST,
            "/v1/verify".into(),
            Some(json!({"key": key})),
            "keys:verify",
        ),
        (
            Method::POST,
            "/v1/root-keys".into(),
            Some(json!({"name": "Attacker Root Key", "permissions": ["root_keys:write"]})),
            "root_keys:write",
        ),
        (Method::GET, "/v1/root-keys".into(), None, "root_keys:write"),
        (
            Method::POST,
            format!("/v1/root-keys/{rk}/revoke"),
            Some(json!({})),
            "root_keys:write",
        ),
        (Method::GET, "/v1/audit".into(), None, "audit:read"),
        (
            Method::GET,
            format!("/v1/audit?key_id={id}"),
            None,
            "audit:read",
        ),
        (Method::GET, "/v1/audit/export".into(), None, "audit:read"),
        (Method::GET, "/v1/audit/verify".into(), None, "audit:read"),
        (Method::GET, "/v1/workspace".into(), None, "audit:read"),
        (
            Method::PATCH,
            "/v1/workspace".into(),
            Some(json!({"verification_audit": "failures"})),
            "workspace:write",
        ),
        (Method::GET, "/v1/policy".into(), None, "keys:read"),
        (
            Method::PUT,
            "/v1/policy".into(),
            Some(json!({"max_key_lifetime_seconds": 86400})),
            "policy:write",
        ),
    ]
}

/// Every right a root key can hold, one at a time.
const RIGHTS: [&str; 7] = [
    "keys:read",
    "keys:write",
    "keys:verify",
    "audit:read",
    "root_keys:write",
    "workspace:write",
    "policy:write",
];

/// Sends every protected call with `api`'s credential and asserts each gets `status`/`code`.
async fn assert_every_call_refused(
    api: &Api<'_>,
    key: &NewKey,
    status: u16,
    code: &str,
    who: &str,
) {
    for (method, path, body, _) in protected_calls(&key.id, &key.key, UNKNOWN_ROOT_ID) {
        let mut request = api.request(method.clone(), &path);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let answer = api.send(request).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{who}: {method} {path}: {}",
            answer.text
        );
        answer.expect_error(status, code);
    }
}

#[tokio::test]
async fn no_garbage_or_customer_credentials_get_401_everywhere() {
    let app = spawn_app();
    let api = app.api();
    let target = api.new_key(STRIPE, &["invoices:receive"]).await;
    let almighty = api.new_key("Break Glass Operations", &["*"]).await;

    assert_every_call_refused(
        &app.anonymous(),
        &target,
        401,
        "unauthorized",
        "no Authorization",
    )
    .await;
    for garbage in [
        "garbage".to_owned(),
        "kw_root_notARealRootKeyAtAllNotARealRootKey".to_owned(),
        crate::helpers::unissued_key("kw_root"),
        crate::helpers::corrupt_checksum(app.root_key()),
        format!("{}x", app.root_key()),
    ] {
        assert_every_call_refused(
            &app.as_root(&garbage),
            &target,
            401,
            "unauthorized",
            "a garbage bearer",
        )
        .await;
    }
    // A customer key is never a root key, whatever permissions it holds.
    assert_every_call_refused(
        &app.as_root(&almighty.key),
        &target,
        401,
        "unauthorized",
        "a customer key with *",
    )
    .await;
    // The root key sent any other way than as a bearer token.
    let basic = app
        .anonymous()
        .request(Method::GET, "/v1/keys")
        .basic_auth(app.root_key(), None::<&str>);
    app.anonymous()
        .send(basic)
        .await
        .expect_error(401, "unauthorized");
    let query = app
        .anonymous()
        .get(&format!("/v1/keys?root_key={}", app.root_key()))
        .await;
    assert!(
        matches!(query.status.as_u16(), 400 | 401),
        "a root key in the query string is refused: {}",
        query.text
    );

    let message = app
        .anonymous()
        .get("/v1/keys")
        .await
        .expect_error(401, "unauthorized");
    assert!(
        message.contains("Bearer"),
        "the 401 says how to authenticate: {message}"
    );
    assert_untouched(&api, &target).await;
    assert_untouched(&api, &almighty).await;
}

#[tokio::test]
async fn a_verify_only_root_key_can_verify_and_nothing_else() {
    let app = spawn_app();
    let api = app.api();
    let target = api.new_key(STRIPE, &["invoices:receive"]).await;
    let created = api
        .create_root_key("Verify-only Service Root Key", &["keys:verify"])
        .await;
    created.assert_no_store();
    let created = created.expect(201).clone();
    let verifier = created["key"]
        .as_str()
        .expect("the root key is returned once")
        .to_owned();
    assert_eq!(created["permissions"], json!(["keys:verify"]));
    assert_eq!(created["name"], "Verify-only Service Root Key");
    assert_eq!(created["workspace_id"], json!(app.workspaces[0].id));
    assert!(verifier.starts_with(created["start"].as_str().unwrap()));

    let limited = app.as_root(&verifier);
    let body = limited
        .verify(&target.key, Some("invoices:receive"))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["code"], "VALID");
    assert_eq!(body["key_id"], json!(target.id));

    let create = limited
        .create_key(&json!({"name": "Payroll CSV Export"}))
        .await;
    let message = create.expect_error(403, "forbidden");
    assert!(
        message.contains("keys:write"),
        "the 403 names the missing right: {message}"
    );
    let mut refused = protected_calls(&target.id, &target.key, UNKNOWN_ROOT_ID);
    refused.retain(|(_, path, _, _)| path != "/v1/verify");
    for (method, path, body, _) in refused {
        let mut request = limited.request(method.clone(), &path);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let answer = limited.send(request).await;
        assert_eq!(
            answer.status.as_u16(),
            403,
            "verify-only root key: {method} {path}: {}",
            answer.text
        );
        answer.expect_error(403, "forbidden");
    }
    assert_untouched(&api, &target).await;
    assert_eq!(
        api.list_all_ids("").await,
        vec![target.id.clone()],
        "no key was created by the 403s"
    );
}

/// The table, right by right: a root key holding one right is refused (`403`, naming the
/// missing right) on every endpoint that needs another, and let through on every endpoint
/// that needs its own; the workspace's own settings, policy and keys are as the admitted
/// calls left them and untouched by the refused ones.
#[tokio::test]
async fn each_right_opens_exactly_its_own_endpoints() {
    let app = spawn_app();
    let api = app.api();
    for right in RIGHTS {
        let holder = api
            .create_root_key(&format!("Holder of {right} only"), &[right])
            .await
            .expect(201)
            .clone();
        let holder = app.as_root(holder["key"].as_str().unwrap());
        let target = api
            .new_key(&format!("Target of {right}"), &["invoices:receive"])
            .await;
        // A root key every right covers entirely, so revoking it is allowed.
        let target_root = api
            .create_root_key(&format!("Target root of {right}"), &["root_keys:write"])
            .await
            .expect(201)
            .clone();
        let rk = target_root["id"].as_str().unwrap();
        let events_before = api.get("/v1/audit/verify").await.expect(200)["events"].clone();
        let mut admitted = 0;
        for (method, path, body, needs) in protected_calls(&target.id, &target.key, rk) {
            let mut request = holder.request(method.clone(), &path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let answer = holder.send(request).await;
            let status = answer.status.as_u16();
            if needs == right {
                admitted += 1;
                // Through the gate; a write may still meet its rule (rotating the key the
                // row before revoked is a 409).
                assert!(
                    (200..300).contains(&status) || status == 409,
                    "{right}: {method} {path} needs {needs}: {status} {}",
                    answer.text
                );
            } else {
                let message = answer.expect_error(403, "forbidden");
                assert!(
                    message.contains(needs),
                    "{right}: {method} {path}: {message}"
                );
            }
        }
        assert!(admitted > 0, "{right} opens no endpoint of the table");
        if matches!(right, "keys:read" | "audit:read") {
            // Only reads were admitted, so nothing at all was written.
            let events = api.get("/v1/audit/verify").await.expect(200)["events"].clone();
            assert_eq!(events, events_before, "{right}: a call left an event");
        }
        if right != "keys:write" {
            assert_untouched(&api, &target).await;
        }
    }
    // What the admitted writes did: the settings and policy changed, by their holders only.
    assert_eq!(
        api.get("/v1/workspace").await.expect(200)["verification_audit"],
        "failures"
    );
    assert_eq!(
        api.get("/v1/policy").await.expect(200)["max_key_lifetime_seconds"],
        86400
    );
}

#[tokio::test]
async fn a_read_only_root_key_reads_but_cannot_write_or_verify() {
    let app = spawn_app();
    let api = app.api();
    let target = api.new_key(STRIPE, &["invoices:receive"]).await;
    let reader = api
        .create_root_key("Support Dashboard Read Access", &["keys:read"])
        .await
        .expect(201)
        .clone();
    let reader = app.as_root(reader["key"].as_str().unwrap());
    assert_eq!(reader.list_all_ids("").await, vec![target.id.clone()]);
    reader.show_key(&target.id).await.expect(200);
    reader
        .revoke_key(&target.id, Some("nope"))
        .await
        .expect_error(403, "forbidden");
    reader
        .update_key(&target.id, &json!({"name": "Renamed By Reader"}))
        .await
        .expect_error(403, "forbidden");
    reader
        .verify(&target.key, None)
        .await
        .expect_error(403, "forbidden");
    assert_untouched(&api, &target).await;
}

#[tokio::test]
async fn a_root_key_cannot_grant_rights_it_does_not_hold() {
    let app = spawn_app();
    let api = app.api();
    let admin = api
        .create_root_key(
            "Root Key Administration Service",
            &["root_keys:write", "keys:read"],
        )
        .await
        .expect(201)
        .clone();
    let admin = app.as_root(admin["key"].as_str().unwrap());
    for rights in [
        vec!["keys:write"],
        vec!["*"],
        vec!["keys:read", "keys:verify"],
    ] {
        let message = admin
            .create_root_key("Escalated Service Root Key", &rights)
            .await
            .expect_error(403, "forbidden");
        assert!(message.contains("does not hold"), "{rights:?}: {message}");
    }
    let lesser = admin
        .create_root_key("Audit Reader Root Key", &["keys:read"])
        .await
        .expect(201)
        .clone();
    assert_eq!(lesser["permissions"], json!(["keys:read"]));

    // Rights are validated too, and root keys are named like keys.
    api.create_root_key("Invoice Service Root Key", &["invoices:read"])
        .await
        .expect_error(400, "bad_request");
    api.create_root_key("Invoice Service Root Key", &[])
        .await
        .expect_error(400, "bad_request");
    api.create_root_key("API", &["keys:read"])
        .await
        .expect_error(400, "bad_request");
    app.as_root(lesser["key"].as_str().unwrap())
        .create_root_key("Another Reader Root Key", &["keys:read"])
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn a_revoked_root_key_is_refused() {
    let app = spawn_app();
    let api = app.api();
    let target = api.new_key(STRIPE, &["invoices:receive"]).await;
    let created = api
        .create_root_key("Temporary Migration Root Key", &["*"])
        .await
        .expect(201)
        .clone();
    let temporary = created["key"].as_str().unwrap();
    app.as_root(temporary).list_keys("").await.expect(200);

    let id = created["id"].as_str().unwrap();
    let revoked = api
        .post(&format!("/v1/root-keys/{id}/revoke"), &json!({}))
        .await
        .expect(200)
        .clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(revoked.get("key").is_none());
    assert_every_call_refused(
        &app.as_root(temporary),
        &target,
        401,
        "unauthorized",
        "a revoked root key",
    )
    .await;
    api.list_keys("").await.expect(200);
    assert_untouched(&api, &target).await;
}
