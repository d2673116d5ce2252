//! A `2xx` for every kind of write is durable: key create, update, revoke, rotate, a credit
//! spend, a policy and a workspace change, a root key's creation and revocation, and a leak
//! report's revocation. SIGKILL the server right after the answer, start it again on the same
//! database, and the change is there.

use crate::helpers::{settings, spawn_process_app, NewKey, TestApp};
use serde_json::json;

const STRIPE: &str = "Stripe Invoice Sending Integration";

/// SIGKILL immediately (no graceful shutdown, no checkpoint), then serve the same database.
fn crash_and_restart(app: &mut TestApp) {
    app.kill();
    app.restart();
}

#[tokio::test]
async fn a_created_key_survives_sigkill() {
    let mut app = spawn_process_app();
    let created = app
        .api()
        .create_key_ok(&json!({
            "name": STRIPE,
            "description": "Sends paid invoices from Stripe to Xero",
            "owner_id": "cust_42",
            "permissions": ["invoices:receive"],
            "metadata": {"team": "finance"}
        }))
        .await;
    crash_and_restart(&mut app);

    let key = NewKey::from(&created);
    let api = app.api();
    assert_eq!(
        settings(api.show_key(&key.id).await.expect(200)),
        settings(&created),
        "the key as created"
    );
    assert_eq!(
        api.verify_code(&key.key, Some("invoices:receive")).await,
        "VALID"
    );
    assert_eq!(api.list_all_ids("").await, vec![key.id.clone()]);
    api.create_key(&json!({"name": STRIPE}))
        .await
        .expect_error(409, "conflict");
}

#[tokio::test]
async fn an_update_survives_sigkill() {
    let mut app = spawn_process_app();
    let key = app.api().new_key(STRIPE, &["invoices:receive"]).await;
    let updated = app
        .api()
        .update_key(
            &key.id,
            &json!({
                "name": "Stripe Invoice Sync (EU)",
                "description": null,
                "permissions": ["invoices:receive", "invoices:read"],
                "enabled": false,
                "metadata": {"region": "eu"}
            }),
        )
        .await
        .expect(200)
        .clone();
    crash_and_restart(&mut app);

    let api = app.api();
    let shown = api.show_key(&key.id).await.expect(200).clone();
    assert_eq!(
        settings(&shown),
        settings(&updated),
        "the update as answered"
    );
    assert_eq!(shown["name"], "Stripe Invoice Sync (EU)");
    assert_eq!(shown["enabled"], json!(false));
    assert_eq!(
        api.verify_code(&key.key, Some("invoices:read")).await,
        "DISABLED"
    );

    api.update_key(&key.id, &json!({"enabled": true}))
        .await
        .expect(200);
    crash_and_restart(&mut app);
    assert_eq!(
        app.api().verify_code(&key.key, Some("invoices:read")).await,
        "VALID"
    );
}

#[tokio::test]
async fn a_revocation_survives_sigkill() {
    let mut app = spawn_process_app();
    let key = app.api().new_key(STRIPE, &["invoices:receive"]).await;
    let other = app
        .api()
        .new_key("Payroll CSV Export", &["payroll:read"])
        .await;
    let revoked = app
        .api()
        .revoke_key(&key.id, Some("leaked"))
        .await
        .expect(200)
        .clone();
    crash_and_restart(&mut app);

    let api = app.api();
    let shown = api.show_key(&key.id).await.expect(200).clone();
    assert_eq!(settings(&shown), settings(&revoked));
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["revoked_reason"], "leaked");
    assert_eq!(
        api.verify_code(&key.key, None).await,
        "REVOKED",
        "revocation is not lost in a crash"
    );
    assert_eq!(api.verify_code(&other.key, None).await, "VALID");
    // The name was freed by the revocation, durably.
    api.new_key(STRIPE, &["invoices:receive"]).await;
}

#[tokio::test]
async fn a_rotation_survives_sigkill() {
    let mut app = spawn_process_app();
    let old = app.api().new_key(STRIPE, &["invoices:receive"]).await;
    let new = NewKey::from(app.api().rotate_key(&old.id, 0).await.expect(201));
    crash_and_restart(&mut app);

    let api = app.api();
    assert_eq!(api.verify_code(&old.key, None).await, "REVOKED");
    assert_eq!(
        api.verify_code(&new.key, Some("invoices:receive")).await,
        "VALID"
    );
    assert_eq!(
        settings(api.show_key(&new.id).await.expect(200)),
        settings(&new.body)
    );
    assert_eq!(
        api.show_key(&old.id).await.expect(200)["replaced_by"],
        json!(new.id)
    );
}

#[tokio::test]
async fn a_rotation_with_grace_survives_sigkill() {
    let mut app = spawn_process_app();
    let old = app.api().new_key(STRIPE, &["invoices:receive"]).await;
    let new = NewKey::from(app.api().rotate_key(&old.id, 3600).await.expect(201));
    let old_after = app.api().show_key(&old.id).await.expect(200).clone();
    crash_and_restart(&mut app);

    let api = app.api();
    assert_eq!(
        api.verify_code(&old.key, None).await,
        "VALID",
        "still in its grace period"
    );
    assert_eq!(api.verify_code(&new.key, None).await, "VALID");
    assert_eq!(
        settings(api.show_key(&old.id).await.expect(200)),
        settings(&old_after)
    );
    api.rotate_key(&old.id, 0)
        .await
        .expect_error(409, "conflict");
}

#[tokio::test]
async fn a_root_key_and_many_writes_survive_sigkill() {
    let mut app = spawn_process_app();
    let root = app
        .api()
        .create_root_key("Verify-only Service Root Key", &["keys:verify"])
        .await
        .expect(201)
        .clone();
    let root = root["key"].as_str().unwrap().to_owned();
    let mut keys = Vec::new();
    for i in 0..20 {
        keys.push(
            app.api()
                .new_key(
                    &format!("Partner Integration Number {i}"),
                    &["invoices:read"],
                )
                .await,
        );
    }
    for key in keys.iter().step_by(2) {
        app.api()
            .revoke_key(&key.id, Some("batch cleanup"))
            .await
            .expect(200);
    }
    crash_and_restart(&mut app);

    let verifier = app.as_root(&root);
    for (i, key) in keys.iter().enumerate() {
        let expected = if i % 2 == 0 { "REVOKED" } else { "VALID" };
        assert_eq!(
            verifier.verify_code(&key.key, Some("invoices:read")).await,
            expected,
            "key {i}"
        );
    }
    assert_eq!(app.api().list_all_ids("").await.len(), 20);
}

#[tokio::test]
async fn credit_spends_survive_sigkill() {
    let mut app = spawn_process_app();
    let metered = NewKey::from(
        &app.api()
            .create_key_ok(&json!({
                "name": "Metered Reporting Integration",
                "permissions": ["reports:read"],
                "credits": {"remaining": 5},
            }))
            .await,
    );
    for left in [4, 3, 2] {
        let answer = app.api().verify(&metered.key, Some("reports:read")).await;
        let body = answer.expect(200);
        assert_eq!(body["code"], "VALID", "{body}");
        assert_eq!(body["credits"], json!(left), "{body}");
    }
    crash_and_restart(&mut app);

    let api = app.api();
    let shown = api.show_key(&metered.id).await.expect(200).clone();
    assert_eq!(
        shown["credits"]["remaining"],
        json!(2),
        "the spends as answered: {shown}"
    );
    for left in [1, 0] {
        let answer = api.verify(&metered.key, Some("reports:read")).await;
        assert_eq!(
            answer.expect(200)["credits"],
            json!(left),
            "{}",
            answer.text
        );
    }
    crash_and_restart(&mut app);
    assert_eq!(
        app.api()
            .verify_code(&metered.key, Some("reports:read"))
            .await,
        "USAGE_EXCEEDED",
        "the last spend is not lost in a crash"
    );
}

#[tokio::test]
async fn policy_and_workspace_changes_survive_sigkill() {
    let mut app = spawn_process_app();
    let policy = json!({"max_key_lifetime_seconds": 3600});
    let answer = app
        .api()
        .send(
            app.api()
                .request(reqwest::Method::PUT, "/v1/policy")
                .json(&policy),
        )
        .await;
    assert_eq!(answer.expect(200), &policy);
    let changed = json!({"verification_audit": "failures", "audit_retention_days": 30});
    let settings = app
        .api()
        .patch("/v1/workspace", &changed)
        .await
        .expect(200)
        .clone();
    crash_and_restart(&mut app);

    let api = app.api();
    assert_eq!(api.get("/v1/policy").await.expect(200), &policy);
    assert_eq!(api.get("/v1/workspace").await.expect(200), &settings);
    assert_eq!(settings["verification_audit"], "failures");
    assert_eq!(settings["audit_retention_days"], 30);
    // The policy still binds after the crash: a key without an expiry is refused.
    let unbounded = api.create_key(&json!({"name": STRIPE})).await;
    assert_eq!(unbounded.status.as_u16(), 400, "{}", unbounded.text);
    api.create_key_ok(&json!({"name": STRIPE, "expires_in": 600}))
        .await;
}

#[tokio::test]
async fn a_root_key_revocation_survives_sigkill() {
    let mut app = spawn_process_app();
    // The workspace's first root key holds every right and revokes a lesser one.
    let lesser = app
        .api()
        .create_root_key("Verify-only Service Root Key", &["keys:verify"])
        .await
        .expect(201)
        .clone();
    let (id, lesser_key) = (
        lesser["id"].as_str().unwrap().to_owned(),
        lesser["key"].as_str().unwrap().to_owned(),
    );
    let key = app.api().new_key(STRIPE, &["invoices:receive"]).await;
    assert_eq!(
        app.as_root(&lesser_key).verify_code(&key.key, None).await,
        "VALID"
    );
    let revoked = app
        .api()
        .post(&format!("/v1/root-keys/{id}/revoke"), &json!({}))
        .await
        .expect(200)
        .clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    crash_and_restart(&mut app);

    app.as_root(&lesser_key)
        .verify(&key.key, None)
        .await
        .expect_error(401, "unauthorized");
    let listed = app.api().get("/v1/root-keys").await.expect(200).clone();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(id))
        .unwrap_or_else(|| panic!("the revoked root key is listed: {listed}"))
        .clone();
    assert_eq!(entry["revoked_at"], revoked["revoked_at"], "{entry}");
}

#[tokio::test]
async fn a_leak_report_revocation_survives_sigkill() {
    let mut app = spawn_process_app();
    let leaked = app.api().new_key(STRIPE, &["invoices:receive"]).await;
    let other = app
        .api()
        .new_key("Payroll CSV Export", &["payroll:read"])
        .await;
    let report = json!({
        "keys": [{"key": leaked.key, "location": "handover.docx: word/document.xml"}],
        "source": "weekly share sweep",
    });
    app.anonymous().post("/v1/leaks", &report).await.expect(202);
    crash_and_restart(&mut app);

    let api = app.api();
    assert_eq!(api.verify_code(&leaked.key, None).await, "REVOKED");
    assert_eq!(api.verify_code(&other.key, None).await, "VALID");
    let shown = api.show_key(&leaked.id).await.expect(200).clone();
    assert_eq!(shown["status"], "revoked", "{shown}");
    assert_eq!(
        shown["revoked_reason"], "leaked: weekly share sweep",
        "{shown}"
    );
    let events = api
        .get(&format!("/v1/audit?key_id={}&kind=key.leaked", leaked.id))
        .await
        .expect(200)["events"]
        .clone();
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    let detail = events[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("handover.docx") && detail.contains("weekly share sweep"),
        "{detail}"
    );
}
