//! What is recorded and counted: the workspace setting that chooses which verifications are
//! recorded (and its refusals and right), keys' verification count and last use, and usage
//! counters across a graceful restart.

use crate::audit::support::{assert_intact, chain, events, field_set, text, verify, STRIPE, XERO};
use crate::helpers::{spawn_app, unissued_key};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[tokio::test]
async fn the_workspace_setting_chooses_which_verifications_are_recorded() {
    let app = spawn_app();
    let api = app.api();
    let workspace_id = app.workspaces[0].id.clone();
    assert_eq!(
        api.get("/v1/workspace").await.expect(200),
        &json!({"workspace_id": workspace_id, "verification_audit": "all", "audit_rules": [], "audit_retention_days": 90})
    );
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let unknown = unissued_key("bos");
    // Each mode: one allowed, one refused, one unknown key.
    let round = |mode: &'static str| {
        let api = app.api();
        let key = stripe.key.clone();
        let unknown = unknown.clone();
        async move {
            let allowed = verify(
                &api,
                &key,
                "invoices:delete",
                "invoices.delete",
                &format!("{mode}-allowed"),
            )
            .await;
            assert_eq!(allowed, "VALID");
            let refused = verify(
                &api,
                &key,
                "payroll:read",
                "payroll.read",
                &format!("{mode}-refused"),
            )
            .await;
            assert_eq!(refused, "INSUFFICIENT_PERMISSIONS");
            let missing = verify(
                &api,
                &unknown,
                "invoices:delete",
                "invoices.delete",
                &format!("{mode}-unknown"),
            )
            .await;
            assert_eq!(missing, "NOT_FOUND");
        }
    };
    round("all").await;
    for (mode, created) in [
        ("failures", "Payroll CSV Export"),
        ("none", "Partner Portal Reader"),
        ("all", "Warehouse Stock Sync"),
    ] {
        let body = api
            .patch("/v1/workspace", &json!({"verification_audit": mode}))
            .await
            .expect(200)
            .clone();
        assert_eq!(body["verification_audit"], mode);
        assert_eq!(api.get("/v1/workspace").await.expect(200), &body);
        round(if mode == "all" { "again" } else { mode }).await;
        // Management events are recorded whatever the setting.
        let key = api.new_key(created, &[]).await;
        assert_eq!(
            events(&api, &format!("kind=key.created&key_id={}", key.id))
                .await
                .len(),
            1
        );
    }

    let recorded: BTreeSet<String> =
        field_set(&events(&api, "kind=key.verified").await, "resource");
    let expected: BTreeSet<String> = [
        "all-allowed",
        "all-refused",
        "all-unknown",
        "failures-refused",
        "failures-unknown",
        "again-allowed",
        "again-refused",
        "again-unknown",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(recorded, expected);
    let details: Vec<String> = events(&api, "kind=workspace.updated")
        .await
        .iter()
        .rev()
        .map(|e| text(e, "detail").to_owned())
        .collect();
    assert_eq!(
        details,
        [
            "verification_audit=failures, audit_retention_days=90",
            "verification_audit=none, audit_retention_days=90",
            "verification_audit=all, audit_retention_days=90",
        ]
    );
    // Usage facts count every verification, recorded or not.
    assert_eq!(
        api.show_key(&stripe.id).await.expect(200)["verification_count"],
        json!(8)
    );
    assert_intact(&chain(&api).await, events(&api, "").await.len());
}

#[tokio::test]
async fn workspace_settings_refuse_bad_values_and_need_workspace_write() {
    let app = spawn_app();
    let api = app.api();
    let before = api.get("/v1/workspace").await.expect(200).clone();
    let events_before = events(&api, "").await.len();
    for bad in [
        json!({"verification_audit": "some"}),
        json!({"verification_audit": ""}),
        json!({"verification_audit": true}),
        json!({"audit_retention_days": 0}),
        json!({"audit_retention_days": 3651}),
        json!({"audit_retention_days": -1}),
        json!({"audit_retention_days": "30"}),
        json!({"audit_retention_days": 1.5}),
        json!({"retention_days": 30}),
        json!({"verification_audit": "failures", "audit_retention_days": 0}),
    ] {
        api.patch("/v1/workspace", &bad)
            .await
            .expect_error(400, "bad_request");
    }
    assert_eq!(
        api.get("/v1/workspace").await.expect(200),
        &before,
        "nothing changed"
    );
    assert_eq!(
        events(&api, "").await.len(),
        events_before,
        "nothing recorded"
    );
    for days in [1, 3650] {
        let body = api
            .patch("/v1/workspace", &json!({"audit_retention_days": days}))
            .await
            .expect(200)
            .clone();
        assert_eq!(body["audit_retention_days"], json!(days));
    }

    let everything_else = api
        .create_root_key(
            "Key Admin Without Workspace Write",
            &[
                "keys:read",
                "keys:write",
                "keys:verify",
                "audit:read",
                "root_keys:write",
            ],
        )
        .await
        .expect(201)
        .clone();
    let admin = app.as_root(text(&everything_else, "key"));
    admin
        .patch("/v1/workspace", &json!({"verification_audit": "none"}))
        .await
        .expect_error(403, "forbidden");
    assert_eq!(
        admin.get("/v1/workspace").await.expect(200)["verification_audit"],
        "all"
    );
    assert!(
        !events(&admin, "").await.is_empty(),
        "audit:read may read the trail"
    );

    let verifier = api
        .create_root_key("Verify Only Service Root Key", &["keys:verify"])
        .await
        .expect(201)
        .clone();
    let verifier = app.as_root(text(&verifier, "key"));
    for path in [
        "/v1/audit",
        "/v1/audit/export",
        "/v1/audit/verify",
        "/v1/workspace",
    ] {
        verifier.get(path).await.expect_error(403, "forbidden");
    }
    app.anonymous()
        .get("/v1/audit")
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn keys_show_their_verification_count_and_last_use() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["payroll:write"]).await;
    let fresh = api.show_key(&stripe.id).await.expect(200).clone();
    assert_eq!(fresh["verification_count"], json!(0));
    assert_eq!(fresh["last_used_at"], Value::Null);

    for i in 0..5 {
        assert_eq!(
            verify(
                &api,
                &stripe.key,
                "invoices:delete",
                "invoices.delete",
                &format!("INV-{i}")
            )
            .await,
            "VALID"
        );
    }
    for i in 0..2 {
        verify(
            &api,
            &stripe.key,
            "payroll:read",
            "payroll.read",
            &format!("PAY-{i}"),
        )
        .await;
    }
    for i in 0..3 {
        assert_eq!(
            verify(
                &api,
                &xero.key,
                "invoices:delete",
                "invoices.delete",
                &format!("INV-x{i}")
            )
            .await,
            "INSUFFICIENT_PERMISSIONS"
        );
    }

    let shown = api.show_key(&stripe.id).await.expect(200).clone();
    assert_eq!(
        shown["verification_count"],
        json!(7),
        "every verification counts"
    );
    // last_used_at is the time of the last verification that answered VALID.
    let last_valid = events(&api, &format!("key_id={}&outcome=VALID", stripe.id)).await;
    let expected: DateTime<Utc> = text(&last_valid[0], "time").parse().expect("a time");
    let last_used: DateTime<Utc> = text(&shown, "last_used_at").parse().expect("a time");
    assert_eq!(last_used, expected);
    let refused = api.show_key(&xero.id).await.expect(200).clone();
    assert_eq!(refused["verification_count"], json!(3));
    assert_eq!(
        refused["last_used_at"],
        Value::Null,
        "refusals are not uses"
    );

    let listed = api.list_keys("").await.expect(200).clone();
    for key in listed["keys"].as_array().expect("keys") {
        let shown = api.show_key(text(key, "id")).await.expect(200).clone();
        assert_eq!(key["verification_count"], shown["verification_count"]);
        assert_eq!(key["last_used_at"], shown["last_used_at"]);
    }
}

/// Usage counters live in memory on the verify path; a graceful shutdown (SIGTERM) writes them,
/// so they survive a restart.
#[tokio::test]
async fn usage_counters_survive_a_graceful_restart() {
    let mut app = spawn_app();
    let key = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &["invoices:*"])
        .await;
    for _ in 0..3 {
        assert_eq!(app.api().verify_code(&key.key, None).await, "VALID");
    }
    assert!(
        app.terminate(),
        "keyward serve exited with an error on SIGTERM"
    );
    assert!(app.log_text().contains("keyward stopped"));
    app.restart();
    let shown = app.api().show_key(&key.id).await;
    let body = shown.expect(200);
    assert_eq!(body["verification_count"], 3, "{body}");
    assert!(body["last_used_at"].is_string(), "{body}");
}
