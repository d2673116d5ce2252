//! The tenant isolation matrix: every endpoint that names an object, called with a second
//! workspace's root key (holding every right) on workspace A's objects, answers exactly as it
//! does for an id that does not exist — same status, same body — and changes nothing in A:
//! A's keys, audit trail (event count and chain) and settings are untouched. Every row is a
//! real request: the same call on B's own object succeeds and its effect is checked, so a
//! row cannot pass by being refused for its body before the object is looked up. Also:
//! another workspace's root key cannot see or touch a key, and a workspace sees and checks
//! only its own audit trail.

use crate::audit::support::{assert_intact, chain, events, export, seqs, verify, XERO};
use crate::helpers::{
    key_ids, settings, spawn_app_with, unissued_key, Answer, Api, NewKey, TestApp, PREFIX,
};
use crate::tenancy::support::{assert_untouched, STRIPE, UNKNOWN_ROOT_ID};
use reqwest::Method;
use serde_json::{json, Value};

const UNKNOWN_KEY_ID: &str = "key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21";

const UNKNOWN_OWNER: &str = "cust_nobody";

async fn call(api: &Api<'_>, method: &Method, path: &str, body: &Option<Value>) -> Answer {
    let mut request = api.request(method.clone(), path);
    if let Some(body) = body {
        request = request.json(body);
    }
    api.send(request).await
}

/// What a row does to its own workspace's object.
#[derive(Debug, Clone, Copy)]
enum Effect {
    Shows,
    Disables,
    RenamesAndWidens,
    Revokes,
    RotatesAtOnce,
    RotatesWithGrace,
    ListsTheOwner,
    PagesPastTheCursor,
    AuditsTheKey,
    ExportsTheKey,
    RevokesTheRootKey,
}

/// Every call that names an object, as a template over `{id}` (a key id), `{owner}` (an
/// owner id) or `{rk}` (a root key id), with what it does to an object of its own workspace.
fn object_calls() -> Vec<(Method, &'static str, Option<Value>, Effect)> {
    vec![
        (Method::GET, "/v1/keys/{id}", None, Effect::Shows),
        (
            Method::PATCH,
            "/v1/keys/{id}",
            Some(json!({"enabled": false})),
            Effect::Disables,
        ),
        (
            Method::PATCH,
            "/v1/keys/{id}",
            Some(json!({"name": "Hijacked", "permissions": ["*"]})),
            Effect::RenamesAndWidens,
        ),
        (
            Method::POST,
            "/v1/keys/{id}/revoke",
            Some(json!({"reason": "hostile"})),
            Effect::Revokes,
        ),
        (
            Method::POST,
            "/v1/keys/{id}/rotate",
            Some(json!({"grace_period_seconds": 0})),
            Effect::RotatesAtOnce,
        ),
        (
            Method::POST,
            "/v1/keys/{id}/rotate",
            Some(json!({"grace_period_seconds": 3600})),
            Effect::RotatesWithGrace,
        ),
        (
            Method::GET,
            "/v1/keys?owner_id={owner}",
            None,
            Effect::ListsTheOwner,
        ),
        (
            Method::GET,
            "/v1/keys?cursor={id}",
            None,
            Effect::PagesPastTheCursor,
        ),
        (
            Method::GET,
            "/v1/audit?key_id={id}",
            None,
            Effect::AuditsTheKey,
        ),
        (
            Method::GET,
            "/v1/audit/export?key_id={id}",
            None,
            Effect::ExportsTheKey,
        ),
        (
            Method::POST,
            "/v1/root-keys/{rk}/revoke",
            Some(json!({})),
            Effect::RevokesTheRootKey,
        ),
    ]
}

/// Asserts that `answer`, to a row's call on B's own key `own` (owner `cust_b`) or root key
/// `own_root`, succeeded and did what the row says.
async fn assert_effect(
    app: &TestApp,
    b: &Api<'_>,
    effect: Effect,
    answer: &Answer,
    own: &NewKey,
    own_root: &Value,
) {
    let what = format!("{effect:?} on B's own object");
    let shown = || async { b.show_key(&own.id).await.expect(200).clone() };
    match effect {
        Effect::Shows => assert_eq!(answer.expect(200)["id"], json!(own.id), "{what}"),
        Effect::Disables => {
            answer.expect(200);
            assert_eq!(shown().await["enabled"], json!(false), "{what}");
            assert_eq!(b.verify_code(&own.key, None).await, "DISABLED", "{what}");
        }
        Effect::RenamesAndWidens => {
            answer.expect(200);
            let after = shown().await;
            assert_eq!(after["name"], "Hijacked", "{what}");
            assert_eq!(after["permissions"], json!(["*"]), "{what}");
        }
        Effect::Revokes => {
            answer.expect(200);
            assert_eq!(shown().await["status"], "revoked", "{what}");
            assert_eq!(b.verify_code(&own.key, None).await, "REVOKED", "{what}");
        }
        Effect::RotatesAtOnce | Effect::RotatesWithGrace => {
            let new = NewKey::from(answer.expect(201));
            assert_eq!(shown().await["replaced_by"], json!(new.id), "{what}");
            let old_code = if matches!(effect, Effect::RotatesAtOnce) {
                "REVOKED"
            } else {
                "VALID"
            };
            assert_eq!(b.verify_code(&own.key, None).await, old_code, "{what}");
            assert_eq!(b.verify_code(&new.key, None).await, "VALID", "{what}");
        }
        Effect::ListsTheOwner => {
            assert!(
                key_ids(answer.expect(200)).contains(&own.id),
                "{what}: {}",
                answer.text
            );
        }
        Effect::PagesPastTheCursor => {
            let ids = key_ids(answer.expect(200));
            assert!(
                !ids.is_empty() && !ids.contains(&own.id),
                "{what}: {}",
                answer.text
            );
        }
        Effect::AuditsTheKey => {
            let events = answer.expect(200)["events"].as_array().unwrap().clone();
            assert!(!events.is_empty(), "{what}: {}", answer.text);
            assert!(
                events.iter().all(|e| e["key_id"] == json!(own.id)),
                "{what}"
            );
        }
        Effect::ExportsTheKey => {
            answer.expect(200);
            assert!(answer.text.contains(&own.id), "{what}: {}", answer.text);
        }
        Effect::RevokesTheRootKey => {
            assert!(
                answer.expect(200)["revoked_at"].is_string(),
                "{what}: {}",
                answer.text
            );
            let revoked = own_root["key"].as_str().unwrap();
            app.as_root(revoked)
                .list_keys("")
                .await
                .expect_error(401, "unauthorized");
        }
    }
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
    // B has a key of its own before the rows, so that B's pages are never empty.
    let b_first = b.new_key("B's first key", &["x:y"]).await;
    let a_audit = a.get("/v1/audit?limit=100").await.expect(200).clone();
    let a_workspace = a.get("/v1/workspace").await.expect(200).clone();
    let a_policy = a.get("/v1/policy").await.expect(200).clone();

    for (row, (method, template, body, effect)) in object_calls().into_iter().enumerate() {
        let foreign = template
            .replace("{id}", &a_id)
            .replace("{owner}", "cust_a")
            .replace("{rk}", &a_root_id);
        let unknown = template
            .replace("{id}", UNKNOWN_KEY_ID)
            .replace("{owner}", UNKNOWN_OWNER)
            .replace("{rk}", UNKNOWN_ROOT_ID);
        assert_ne!(foreign, unknown, "row {row} compares a request with itself");
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

        // The same call on B's own, fresh objects does what it says.
        let own = NewKey::from(
            &b.create_key_ok(&json!({
                "name": format!("B's key for row {row}"),
                "owner_id": "cust_b",
                "permissions": ["x:y"],
            }))
            .await,
        );
        let own_root = b
            .create_root_key(&format!("B's root key for row {row}"), &["keys:read"])
            .await
            .expect(201)
            .clone();
        let on_own = template
            .replace("{id}", &own.id)
            .replace("{owner}", "cust_b")
            .replace("{rk}", own_root["id"].as_str().unwrap());
        let answer = call(&b, &method, &on_own, &body).await;
        assert_effect(&app, &b, effect, &answer, &own, &own_root).await;
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
    assert_eq!(b.verify_code(&b_first.key, Some("x:y")).await, "VALID");

    // B's lists hold only B's things.
    let b_ids = b.list_all_ids("").await;
    assert!(
        b_ids.contains(&b_first.id) && !b_ids.contains(&a_id),
        "{b_ids:?}"
    );
    let b_audit = b.get("/v1/audit?limit=100").await.expect(200).clone();
    assert!(
        !b_audit.to_string().contains(&a_id),
        "B's audit shows A's key"
    );
    let b_export = b.get("/v1/audit/export").await;
    assert!(
        b_export.text.contains(&b_first.id),
        "B's export shows B's key"
    );
    assert!(!b_export.text.contains(&a_id), "B's export shows A's key");
    let b_roots = b.get("/v1/root-keys").await.expect(200).clone();
    assert!(!b_roots.to_string().contains(&a_root_id));

    // B changing its own workspace settings and policy (real changes, checked) leaves A's
    // alone.
    let changed = json!({"verification_audit": "none", "audit_retention_days": 7});
    let b_settings = b.patch("/v1/workspace", &changed).await.expect(200).clone();
    assert_eq!(b_settings["verification_audit"], "none", "{b_settings}");
    assert_eq!(b_settings["audit_retention_days"], 7, "{b_settings}");
    assert_eq!(
        &b.get("/v1/workspace").await.expect(200).clone(),
        &b_settings
    );
    assert_ne!(b_settings, a_workspace);
    let policy = json!({"max_key_lifetime_seconds": 60});
    let b_policy = call(&b, &Method::PUT, "/v1/policy", &Some(policy.clone())).await;
    assert_eq!(b_policy.expect(200), &policy);
    assert_eq!(b.get("/v1/policy").await.expect(200), &policy);
    assert_ne!(a_policy, policy);
    // B's policy binds B: a key without an expiry is refused there.
    let unbounded = json!({"name": "B's unbounded key", "permissions": ["x:y"]});
    assert_eq!(b.create_key(&unbounded).await.status.as_u16(), 400);

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
    // A's policy still lets A create a key without an expiry.
    a.create_key_ok(&json!({"name": "A's unbounded key", "permissions": ["x:y"]}))
        .await;
}

#[tokio::test]
async fn another_workspaces_root_key_cannot_see_or_touch_its_keys() {
    let app = spawn_app_with(2);
    let (a, b) = (
        app.as_root(&app.workspaces[0].root_key),
        app.as_root(&app.workspaces[1].root_key),
    );
    let a_key = NewKey::from(
        &a.create_key_ok(
            &json!({"name": STRIPE, "owner_id": "cust_1", "permissions": ["invoices:receive"]}),
        )
        .await,
    );
    let a_other = a.new_key("Payroll CSV Export", &["payroll:read"]).await;

    let id = &a_key.id;
    b.show_key(id).await.expect_error(404, "not_found");
    b.update_key(
        id,
        &json!({"enabled": false, "name": "Hijacked Integration"}),
    )
    .await
    .expect_error(404, "not_found");
    b.revoke_key(id, Some("hostile"))
        .await
        .expect_error(404, "not_found");
    b.rotate_key(id, 0).await.expect_error(404, "not_found");
    b.rotate_key(id, 3600).await.expect_error(404, "not_found");
    // Indistinguishable from a key that does not exist.
    let unknown = b.show_key("key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21").await;
    assert_eq!(
        b.show_key(id).await.text,
        unknown.text,
        "a 404 must not tell foreign from unknown"
    );

    let verified = b
        .verify(&a_key.key, Some("invoices:receive"))
        .await
        .expect(200)
        .clone();
    assert_eq!(verified["valid"], json!(false));
    assert_eq!(verified["code"], "NOT_FOUND");
    for detail in ["key_id", "name", "owner_id", "permissions"] {
        assert!(
            matches!(verified.get(detail), None | Some(Value::Null)),
            "another workspace's key must reveal no {detail}: {verified}"
        );
    }
    assert_eq!(
        b.list_all_ids("").await,
        Vec::<String>::new(),
        "B sees none of A's keys"
    );
    assert_eq!(
        b.list_all_ids("?owner_id=cust_1").await,
        Vec::<String>::new()
    );
    assert_eq!(b.list_all_ids("?status=active").await, Vec::<String>::new());

    // Names are unique per workspace only; B's keys are B's.
    let b_key = b.new_key(STRIPE, &["invoices:receive"]).await;
    assert_eq!(b_key.body["workspace_id"], json!(app.workspaces[1].id));
    assert_eq!(b.list_all_ids("").await, vec![b_key.id.clone()]);
    assert!(
        !a.list_all_ids("").await.contains(&b_key.id),
        "A sees none of B's keys"
    );
    assert_eq!(a.verify_code(&b_key.key, None).await, "NOT_FOUND");
    a.show_key(&b_key.id).await.expect_error(404, "not_found");

    // Root keys are per workspace too.
    let a_root = a
        .create_root_key("Workspace A Verifier Root Key", &["keys:verify"])
        .await
        .expect(201)
        .clone();
    let a_root_id = a_root["id"].as_str().unwrap();
    b.post(&format!("/v1/root-keys/{a_root_id}/revoke"), &json!({}))
        .await
        .expect_error(404, "not_found");
    let b_roots = b.get("/v1/root-keys").await.expect(200).clone();
    assert!(
        b_roots
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["workspace_id"] == json!(app.workspaces[1].id)),
        "B lists only its own root keys: {b_roots}"
    );
    let a_verifier = app.as_root(a_root["key"].as_str().unwrap());
    assert_eq!(a_verifier.verify_code(&a_key.key, None).await, "VALID");
    assert_eq!(a_verifier.verify_code(&b_key.key, None).await, "NOT_FOUND");

    assert_untouched(&a, &a_key).await;
    assert_untouched(&a, &a_other).await;
    assert_untouched(&b, &b_key).await;
}

#[tokio::test]
async fn a_workspace_sees_and_checks_only_its_own_trail() {
    let app = spawn_app_with(2);
    let a = app.api();
    let b = app.as_root(&app.workspaces[1].root_key);
    let stripe = a.new_key(STRIPE, &["invoices:delete"]).await;
    verify(
        &a,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-1",
    )
    .await;
    let xero = b.new_key(XERO, &["payroll:write"]).await;
    verify(&b, &xero.key, "payroll:write", "payroll.run", "PAY-1").await;
    // B presents A's key: to B it is unknown, and B's trail says no more than that.
    assert_eq!(
        verify(
            &b,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            "INV-1"
        )
        .await,
        "NOT_FOUND"
    );

    let a_events = events(&a, "").await;
    let b_events = events(&b, "").await;
    for (events, workspace) in [
        (&a_events, &app.workspaces[0]),
        (&b_events, &app.workspaces[1]),
    ] {
        assert!(events
            .iter()
            .all(|e| e["workspace_id"] == json!(workspace.id)));
        // Each workspace numbers its own chain from 1.
        let mut numbers = seqs(events);
        numbers.reverse();
        assert_eq!(numbers, (1..=events.len() as i64).collect::<Vec<_>>());
    }
    let b_text = b.get("/v1/audit/export").await.text;
    for leak in [stripe.id.as_str(), STRIPE, app.workspaces[0].id.as_str()] {
        assert!(!b_text.contains(leak), "B's export mentions {leak:?}");
    }
    let b_deletes = events(&b, "action=invoices.delete").await;
    assert_eq!(b_deletes.len(), 1);
    assert_eq!(b_deletes[0]["outcome"], "NOT_FOUND");
    assert_eq!(b_deletes[0]["key_id"], Value::Null);
    assert_eq!(b_deletes[0]["key_name"], Value::Null);
    assert!(events(&b, &format!("key_id={}", stripe.id))
        .await
        .is_empty());
    assert!(export(&b, &format!("key_id={}", stripe.id))
        .await
        .is_empty());
    assert_eq!(events(&a, "action=invoices.delete").await.len(), 1);

    assert_intact(&chain(&a).await, a_events.len());
    assert_intact(&chain(&b).await, b_events.len());
}
