//! Every management action writes its event, with the acting root key, and no event or log
//! line holds a secret.

use crate::audit::support::{
    assert_intact, chain, events, initial_root_key_id, text, verify, STRIPE, XERO,
};
use crate::helpers::{contains_bytes, secret_part, spawn_app, unissued_key, NewKey};
use serde_json::{json, Value};

#[tokio::test]
async fn every_management_action_is_recorded_and_no_event_or_log_holds_a_secret() {
    let app = spawn_app();
    let api = app.api();
    let root_id = initial_root_key_id(&api).await;
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["payroll:write"]).await;
    api.update_key(&stripe.id, &json!({"name": "Stripe Invoice Sync EU"}))
        .await
        .expect(200);
    let rotated = NewKey::from(api.rotate_key(&stripe.id, 0).await.expect(201));
    api.revoke_key(&xero.id, Some("payroll moved in-house"))
        .await
        .expect(200);
    let reader = api
        .create_root_key("Audit Reader Root Key", &["audit:read"])
        .await
        .expect(201)
        .clone();
    let reader_id = text(&reader, "id").to_owned();
    let reader_key = text(&reader, "key").to_owned();
    api.patch("/v1/workspace", &json!({"audit_retention_days": 30}))
        .await
        .expect(200);
    // Verifications with the live key, the rotated-out one and one never issued.
    let never_issued = unissued_key("bos");
    verify(
        &api,
        &rotated.key,
        "invoices:delete",
        "invoices.delete",
        "INV-9",
    )
    .await;
    verify(
        &api,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-9",
    )
    .await;
    verify(
        &api,
        &never_issued,
        "invoices:delete",
        "invoices.delete",
        "INV-9",
    )
    .await;
    // The reader reads the trail; then it is revoked.
    let as_reader = app.as_root(&reader_key);
    assert_eq!(chain(&as_reader).await["valid"], json!(true));
    api.post(&format!("/v1/root-keys/{reader_id}/revoke"), &json!({}))
        .await
        .expect(200);

    let all = events(&api, "").await;
    let kinds: Vec<&str> = all.iter().rev().map(|e| text(e, "kind")).collect();
    assert_eq!(
        kinds,
        [
            "workspace.created",
            "root_key.created",
            "key.created",
            "key.created",
            "key.updated",
            "key.rotated",
            "key.revoked",
            "root_key.created",
            "workspace.updated",
            "key.verified",
            "key.verified",
            "key.verified",
            "root_key.revoked",
        ]
    );
    let by_kind =
        |kind: &str| -> Vec<&Value> { all.iter().filter(|e| e["kind"] == kind).collect() };
    // Everything after `init` was done by the initial root key.
    for event in &all[..all.len() - 2] {
        assert_eq!(event["actor_id"], json!(root_id), "{event}");
        assert_eq!(event["actor_name"], "Initial root key", "{event}");
    }
    let updated = by_kind("key.updated")[0];
    assert_eq!(updated["key_id"], json!(stripe.id));
    assert_eq!(
        updated["key_name"], "Stripe Invoice Sync EU",
        "the name after the change"
    );
    assert_eq!(updated["detail"], "changed: name");
    let rotated_event = by_kind("key.rotated")[0];
    assert_eq!(rotated_event["key_id"], json!(stripe.id));
    assert!(
        text(rotated_event, "detail").contains(&rotated.id),
        "{rotated_event}"
    );
    let revoked = by_kind("key.revoked")[0];
    assert_eq!(revoked["key_id"], json!(xero.id));
    assert_eq!(revoked["key_name"], XERO);
    assert_eq!(revoked["detail"], "payroll moved in-house");
    let root_created = by_kind("root_key.created");
    assert!(text(root_created[0], "detail").contains(&reader_id));
    assert!(text(by_kind("root_key.revoked")[0], "detail").contains(&reader_id));
    assert_eq!(
        by_kind("workspace.updated")[0]["detail"],
        "verification_audit=all, audit_retention_days=30"
    );
    let verified: Vec<(&str, Option<&str>)> = by_kind("key.verified")
        .iter()
        .map(|e| (text(e, "outcome"), e["key_id"].as_str()))
        .collect();
    assert_eq!(
        verified,
        [
            ("NOT_FOUND", None),
            ("REVOKED", Some(stripe.id.as_str())),
            ("VALID", Some(rotated.id.as_str())),
        ]
    );
    assert_intact(&chain(&api).await, all.len());

    // No plaintext key or root key, and no key hash, anywhere the trail is shown or logged.
    let listed = api.get("/v1/audit?limit=1000").await.text;
    let exported = api.get("/v1/audit/export").await.text;
    let checked = api.get("/v1/audit/verify").await.text;
    let log = app.log();
    let secrets = [
        stripe.key.as_str(),
        xero.key.as_str(),
        rotated.key.as_str(),
        never_issued.as_str(),
        reader_key.as_str(),
        app.root_key(),
    ];
    for secret in secrets {
        let body = secret_part(secret).as_bytes();
        let hash = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(secret.as_bytes()))
        };
        for (place, bytes) in [
            ("the audit list", listed.as_bytes()),
            ("the export", exported.as_bytes()),
            ("the chain check", checked.as_bytes()),
            ("the server log", log.as_slice()),
        ] {
            assert!(!contains_bytes(bytes, body), "a key is in {place}");
            assert!(
                !contains_bytes(bytes, hash.as_bytes()),
                "a key hash is in {place}"
            );
        }
    }
}
