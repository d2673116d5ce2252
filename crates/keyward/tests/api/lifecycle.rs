//! The key lifecycle over HTTP: create, list (filters, cursor pagination), show, update,
//! revoke, rotate, and the naming rules.

use crate::helpers::{assert_key_format, key_ids, settings, spawn_app, Api, NewKey, PREFIX};
use serde_json::{json, Value};
use std::collections::HashSet;

const STRIPE: &str = "Stripe Invoice Sending Integration";

/// The body without the plaintext `key`: what GET must show for the same key.
fn without_key(created: &Value) -> Value {
    let mut record = created.clone();
    record.as_object_mut().expect("an object").remove("key");
    record
}

#[track_caller]
fn assert_has_no_plaintext(body: &Value) {
    assert!(
        body.get("key").is_none(),
        "only create and rotate may return the plaintext key: {body}"
    );
}

#[tokio::test]
async fn create_returns_the_key_once_with_every_stored_field() {
    let app = spawn_app();
    let api = app.api();
    let request = json!({
        "name": STRIPE,
        "description": "Sends paid invoices from Stripe to Xero",
        "owner_id": "cust_42",
        "permissions": ["invoices:receive", "invoices:read"],
        "expires_at": "2099-01-01T00:00:00Z",
        "enabled": true,
        "metadata": {"team": "finance", "tier": 2}
    });
    let answer = api.create_key(&request).await;
    let created = answer.expect(201).clone();
    answer.assert_no_store();

    let key = created["key"]
        .as_str()
        .expect("the plaintext key is returned on create");
    assert_key_format(key, PREFIX);
    let id = created["id"].as_str().expect("an id");
    assert!(id.starts_with("key_"), "key ids say what they name: {id}");
    assert!(
        !key.contains(id) && !id.contains(&key[PREFIX.len() + 1..]),
        "the id is not derived from the key"
    );
    let start = created["start"].as_str().expect("a display start");
    assert!(
        key.starts_with(start),
        "start {start:?} must be the beginning of the key"
    );
    assert!(
        start.starts_with("bos_") && start.len() > "bos_".len(),
        "start shows the prefix and a few characters: {start:?}"
    );
    assert!(
        start.len() <= "bos_".len() + 8,
        "start must reveal only a few characters: {start:?}"
    );

    assert_eq!(created["workspace_id"], json!(app.workspaces[0].id));
    for field in [
        "name",
        "description",
        "owner_id",
        "permissions",
        "expires_at",
        "enabled",
        "metadata",
    ] {
        assert_eq!(
            created[field], request[field],
            "field {field} as stored: {created}"
        );
    }
    assert_eq!(created["status"], "active");
    assert_eq!(created["revoked_at"], Value::Null);
    assert_eq!(created["revoked_reason"], Value::Null);
    assert_eq!(created["replaced_by"], Value::Null);
    assert!(created["created_at"].is_string() && created["created_at"] == created["updated_at"]);

    // Shown once: GET (one key, and the list) never returns the plaintext.
    let shown = api.show_key(id).await;
    let shown_body = shown.expect(200);
    shown.assert_no_store();
    assert_has_no_plaintext(shown_body);
    // Besides what create stored, GET of one key shows its safety advice: none for this one.
    assert_eq!(shown_body["advice"], serde_json::json!([]));
    let mut shown_record = shown_body.clone();
    if let Some(object) = shown_record.as_object_mut() {
        object.remove("advice");
    }
    assert_eq!(
        shown_record,
        without_key(&created),
        "GET shows exactly what create stored"
    );
    assert!(
        !shown.text.contains(&key[PREFIX.len() + 1..]),
        "GET leaks the secret: {}",
        shown.text
    );
    let listed = api.list_keys("").await;
    listed.assert_no_store();
    let list = listed.expect(200);
    assert_eq!(key_ids(list), vec![id.to_owned()]);
    assert_has_no_plaintext(&list["keys"][0]);
    assert_eq!(list["keys"][0], without_key(&created));
    assert!(
        !listed.text.contains(&key[PREFIX.len() + 1..]),
        "the list leaks the secret"
    );

    assert_eq!(
        api.verify_code(key, Some("invoices:receive")).await,
        "VALID"
    );
}

#[tokio::test]
async fn create_with_only_a_name_has_defaults() {
    let app = spawn_app();
    let created = app
        .api()
        .create_key_ok(&json!({"name": "Payroll CSV Export"}))
        .await;
    assert_eq!(created["permissions"], json!([]));
    assert_eq!(created["enabled"], json!(true));
    assert_eq!(created["status"], "active");
    assert_eq!(created["metadata"], json!({}));
    for field in ["description", "owner_id", "expires_at"] {
        assert_eq!(created[field], Value::Null, "{field} defaults to null");
    }
}

#[tokio::test]
async fn list_pages_with_a_cursor_without_skips_or_repeats() {
    let app = spawn_app();
    let api = app.api();
    let mut created = HashSet::new();
    for i in 0..7 {
        created.insert(
            api.new_key(
                &format!("Partner Integration Number {i}"),
                &["invoices:read"],
            )
            .await
            .id,
        );
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut page_sizes = Vec::new();
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_owned(),
        };
        let answer = api.list_keys(&query).await;
        let page = answer.expect(200);
        for key in page["keys"].as_array().expect("keys") {
            assert_has_no_plaintext(key);
        }
        let ids = key_ids(page);
        page_sizes.push(ids.len());
        seen.extend(ids);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(
            page_sizes.len() < 10,
            "pagination does not end: {page_sizes:?}"
        );
    }
    assert_eq!(page_sizes, vec![3, 3, 1], "7 keys in pages of 3");
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a key was listed twice: {seen:?}");
    assert_eq!(unique, created, "every key, each once");

    // Newest first, and a full listing agrees with the pages.
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "the list is newest first");
    assert_eq!(api.list_all_ids("").await, seen);
}

async fn key_for(api: &Api<'_>, owner: &str, name: &str, enabled: bool) -> NewKey {
    NewKey::from(
        &api.create_key_ok(&json!({"name": name, "owner_id": owner, "enabled": enabled}))
            .await,
    )
}

#[tokio::test]
async fn list_filters_by_owner_and_status() {
    let app = spawn_app();
    let api = app.api();
    let a1 = key_for(&api, "cust_a", "Xero Bank Feed Sync", true).await;
    let a2 = key_for(&api, "cust_a", "Payroll Export to Sage", false).await;
    let b1 = key_for(&api, "cust_b", "Shopify Order Import", true).await;
    let b2 = key_for(&api, "cust_b", "Stale Warehouse Connector", true).await;
    api.revoke_key(&b2.id, Some("no longer used"))
        .await
        .expect(200);

    let set = |ids: Vec<String>| ids.into_iter().collect::<HashSet<_>>();
    let of = |keys: &[&NewKey]| keys.iter().map(|k| k.id.clone()).collect::<HashSet<_>>();
    assert_eq!(
        set(api.list_all_ids("?owner_id=cust_a").await),
        of(&[&a1, &a2])
    );
    assert_eq!(
        set(api.list_all_ids("?owner_id=cust_b").await),
        of(&[&b1, &b2])
    );
    assert_eq!(
        set(api.list_all_ids("?owner_id=nobody").await),
        HashSet::new()
    );
    assert_eq!(
        set(api.list_all_ids("?status=active").await),
        of(&[&a1, &b1])
    );
    assert_eq!(set(api.list_all_ids("?status=disabled").await), of(&[&a2]));
    assert_eq!(set(api.list_all_ids("?status=revoked").await), of(&[&b2]));
    assert_eq!(
        set(api.list_all_ids("?status=active&owner_id=cust_b").await),
        of(&[&b1])
    );
    assert_eq!(set(api.list_all_ids("").await), of(&[&a1, &a2, &b1, &b2]));

    let listed = api.list_keys("?status=disabled").await;
    assert_eq!(listed.expect(200)["keys"][0]["status"], "disabled");
    api.list_keys("?status=sleeping")
        .await
        .expect_error(400, "bad_request");
}

#[tokio::test]
async fn show_answers_404_for_unknown_and_malformed_ids() {
    let app = spawn_app();
    let api = app.api();
    for id in [
        "key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21",
        "key_zz",
        "nonsense",
        "rk_0192f0c5e3a27d4c9b1e8f3a6d5c4b21",
    ] {
        api.show_key(id).await.expect_error(404, "not_found");
    }
}

#[tokio::test]
async fn update_changes_each_field_and_null_clears_the_description() {
    let app = spawn_app();
    let api = app.api();
    let created = api
        .create_key_ok(&json!({
            "name": "Xero Bank Feed Sync",
            "description": "first draft",
            "owner_id": "cust_7",
            "permissions": ["bank:read"],
            "metadata": {"v": 1}
        }))
        .await;
    let key = NewKey::from(&created);

    let answer = api
        .update_key(
            &key.id,
            &json!({
                "name": "Xero Bank Feed Sync (EU)",
                "description": "Pushes bank transactions to Xero",
                "permissions": ["bank:read", "bank:reconcile"],
                "enabled": false,
                "metadata": {"region": "eu", "v": 2}
            }),
        )
        .await;
    answer.assert_no_store();
    let updated = answer.expect(200).clone();
    assert_has_no_plaintext(&updated);
    assert_eq!(updated["name"], "Xero Bank Feed Sync (EU)");
    assert_eq!(updated["description"], "Pushes bank transactions to Xero");
    assert_eq!(
        updated["permissions"],
        json!(["bank:read", "bank:reconcile"])
    );
    assert_eq!(updated["enabled"], json!(false));
    assert_eq!(updated["status"], "disabled");
    assert_eq!(updated["metadata"], json!({"region": "eu", "v": 2}));
    assert_eq!(
        updated["owner_id"], "cust_7",
        "an absent field is left as it is"
    );
    assert_eq!(updated["start"], created["start"]);
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_eq!(
        settings(api.show_key(&key.id).await.expect(200)),
        settings(&updated),
        "GET shows the update"
    );
    assert_eq!(api.verify_code(&key.key, None).await, "DISABLED");

    let enabled = api
        .update_key(&key.id, &json!({"enabled": true}))
        .await
        .expect(200)
        .clone();
    assert_eq!(enabled["status"], "active");
    assert_eq!(
        api.verify_code(&key.key, Some("bank:reconcile")).await,
        "VALID",
        "new permission applies at once"
    );

    let narrowed = api
        .update_key(&key.id, &json!({"permissions": ["bank:read"]}))
        .await;
    narrowed.expect(200);
    assert_eq!(
        api.verify_code(&key.key, Some("bank:reconcile")).await,
        "INSUFFICIENT_PERMISSIONS",
        "a removed permission is refused at once"
    );

    let cleared = api
        .update_key(&key.id, &json!({"description": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        cleared["description"],
        Value::Null,
        "null clears the description"
    );
    assert_eq!(
        cleared["name"], "Xero Bank Feed Sync (EU)",
        "and nothing else changes"
    );
    assert_eq!(
        api.show_key(&key.id).await.expect(200)["description"],
        Value::Null
    );

    let nothing = api
        .update_key(&key.id, &json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(nothing["permissions"], json!(["bank:read"]));

    let unknown = "key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21";
    api.update_key(unknown, &json!({"enabled": false}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn revoke_records_the_reason_and_verify_refuses_the_key() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:receive"]).await;
    let other = api.new_key("Payroll CSV Export", &["payroll:read"]).await;

    let answer = api
        .revoke_key(
            &key.id,
            Some("leaked in a Word document on the shared drive"),
        )
        .await;
    answer.assert_no_store();
    let revoked = answer.expect(200).clone();
    assert_has_no_plaintext(&revoked);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        revoked["revoked_reason"],
        "leaked in a Word document on the shared drive"
    );
    assert!(
        revoked["revoked_at"].is_string(),
        "revoked_at is set: {revoked}"
    );

    let verified = api.verify(&key.key, Some("invoices:receive")).await;
    let body = verified.expect(200);
    assert_eq!(body["valid"], json!(false));
    assert_eq!(body["code"], "REVOKED");
    assert_eq!(body["key_id"], json!(key.id));
    assert_eq!(
        api.verify_code(&other.key, None).await,
        "VALID",
        "the other key is untouched"
    );

    // Revoking again is not an error and changes nothing.
    let again = api
        .revoke_key(&key.id, Some("second attempt"))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["status"], "revoked");
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    assert_eq!(again["revoked_reason"], revoked["revoked_reason"]);
    assert_eq!(
        settings(api.show_key(&key.id).await.expect(200)),
        settings(&revoked)
    );

    // A revoked key stays revoked.
    api.update_key(&key.id, &json!({"enabled": true}))
        .await
        .expect_error(409, "conflict");
    api.rotate_key(&key.id, 0)
        .await
        .expect_error(409, "conflict");
    assert_eq!(api.verify_code(&key.key, None).await, "REVOKED");

    let no_reason = api.revoke_key(&other.id, None).await.expect(200).clone();
    assert_eq!(no_reason["status"], "revoked");
    assert_eq!(no_reason["revoked_reason"], Value::Null);
}

#[tokio::test]
async fn rotate_without_grace_refuses_the_old_key_at_once() {
    let app = spawn_app();
    let api = app.api();
    let old = NewKey::from(
        &api.create_key_ok(&json!({
            "name": STRIPE,
            "owner_id": "cust_42",
            "permissions": ["invoices:receive"],
            "metadata": {"team": "finance"}
        }))
        .await,
    );

    let answer = api.rotate_key(&old.id, 0).await;
    answer.assert_no_store();
    let new = NewKey::from(answer.expect(201));
    assert_key_format(&new.key, PREFIX);
    assert_ne!(new.key, old.key);
    assert_ne!(new.id, old.id);
    for field in [
        "name",
        "owner_id",
        "permissions",
        "metadata",
        "enabled",
        "workspace_id",
    ] {
        assert_eq!(
            new.body[field], old.body[field],
            "the new key keeps {field}"
        );
    }
    assert_eq!(new.body["status"], "active");

    assert_eq!(api.verify_code(&old.key, None).await, "REVOKED");
    assert_eq!(
        api.verify_code(&new.key, Some("invoices:receive")).await,
        "VALID"
    );

    let old_now = api.show_key(&old.id).await.expect(200).clone();
    assert_eq!(old_now["status"], "revoked");
    assert_eq!(old_now["replaced_by"], json!(new.id));
    assert_has_no_plaintext(api.show_key(&new.id).await.expect(200));
}

#[tokio::test]
async fn rotate_with_grace_keeps_the_old_key_working_and_only_once() {
    let app = spawn_app();
    let api = app.api();
    let old = api.new_key(STRIPE, &["invoices:receive"]).await;

    let new = NewKey::from(
        api.post(
            &format!("/v1/keys/{}/rotate", old.id),
            &json!({"grace_period_seconds": 3600}),
        )
        .await
        .expect(201),
    );
    assert_eq!(new.body["name"], STRIPE, "the new key has the same name");
    assert_eq!(
        api.verify_code(&old.key, Some("invoices:receive")).await,
        "VALID",
        "old key in its grace period"
    );
    assert_eq!(
        api.verify_code(&new.key, Some("invoices:receive")).await,
        "VALID"
    );

    let old_now = api.show_key(&old.id).await.expect(200).clone();
    assert_eq!(old_now["replaced_by"], json!(new.id));
    assert!(
        old_now["expires_at"].is_string(),
        "the grace period ends: {old_now}"
    );

    // The rotated key cannot be rotated again; its replacement can.
    api.rotate_key(&old.id, 0)
        .await
        .expect_error(409, "conflict");
    api.rotate_key(&old.id, 60)
        .await
        .expect_error(409, "conflict");
    let newer = NewKey::from(api.rotate_key(&new.id, 0).await.expect(201));
    assert_eq!(api.verify_code(&new.key, None).await, "REVOKED");
    assert_eq!(api.verify_code(&newer.key, None).await, "VALID");
    assert_eq!(
        api.verify_code(&old.key, None).await,
        "VALID",
        "rotating the new key leaves the old one's grace"
    );

    // Only the live key holds the name: three keys carry it, one is listed as active.
    let active = api.list_all_ids("?status=active").await;
    assert!(active.contains(&newer.id) && !active.contains(&new.id));
}

#[tokio::test]
async fn a_rotated_key_is_refused_once_its_grace_period_ends() {
    let app = spawn_app();
    let api = app.api();
    let old = api.new_key(STRIPE, &["invoices:receive"]).await;
    let new = NewKey::from(api.rotate_key(&old.id, 1).await.expect(201));
    assert_eq!(api.verify_code(&new.key, None).await, "VALID");
    // The server's clock has to pass the end of the grace period: wait for the answer to change
    // (this waits on the server's own answers; the deadline only stops a broken server).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let code = loop {
        let code = api.verify_code(&old.key, None).await;
        if code != "VALID" || std::time::Instant::now() > deadline {
            break code;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        code, "EXPIRED",
        "after its grace period the old key is refused"
    );
    assert_eq!(api.verify_code(&new.key, None).await, "VALID");
}

#[tokio::test]
async fn generic_names_are_refused_with_a_descriptive_hint() {
    let app = spawn_app();
    let api = app.api();
    for name in [
        "API",
        "key",
        "test",
        "token",
        "default",
        "new key",
        "New Key",
        "api-key",
        "  TOKEN  ",
    ] {
        let message = api
            .create_key(&json!({"name": name}))
            .await
            .expect_error(400, "bad_request");
        assert!(
            message.contains("Stripe Invoice Sending Integration"),
            "the refusal of {name:?} should show a descriptive name: {message}"
        );
    }
    let key = api.new_key(STRIPE, &[]).await;
    let message = api
        .update_key(&key.id, &json!({"name": "test"}))
        .await
        .expect_error(400, "bad_request");
    assert!(
        message.contains("Stripe Invoice Sending Integration"),
        "{message}"
    );
    assert_eq!(
        api.list_all_ids("").await,
        vec![key.id],
        "no generic key was created"
    );
}

#[tokio::test]
async fn names_must_be_3_to_100_characters() {
    let app = spawn_app();
    let api = app.api();
    for name in [String::new(), "   ".into(), "ab".into(), "x".repeat(101)] {
        api.create_key(&json!({"name": name}))
            .await
            .expect_error(400, "bad_request");
    }
    api.create_key(&json!({}))
        .await
        .expect_error(400, "bad_request");
    api.create_key(&json!({"name": null}))
        .await
        .expect_error(400, "bad_request");
    let shortest = api.create_key_ok(&json!({"name": "CRM"})).await;
    assert_eq!(shortest["name"], "CRM");
    let longest = api.create_key_ok(&json!({"name": "y".repeat(100)})).await;
    assert_eq!(longest["name"], json!("y".repeat(100)));
    let trimmed = api
        .create_key_ok(&json!({"name": "  Shopify Order Import  "}))
        .await;
    assert_eq!(trimmed["name"], "Shopify Order Import", "names are trimmed");
}

#[tokio::test]
async fn a_live_name_is_unique_case_insensitively_and_a_revoked_name_is_free() {
    let app = spawn_app();
    let api = app.api();
    let first = api.new_key(STRIPE, &["invoices:receive"]).await;
    for clash in [
        STRIPE,
        "stripe invoice sending integration",
        "STRIPE INVOICE SENDING INTEGRATION",
    ] {
        api.create_key(&json!({"name": clash}))
            .await
            .expect_error(409, "conflict");
    }
    let other = api.new_key("Payroll CSV Export", &[]).await;
    api.update_key(
        &other.id,
        &json!({"name": "stripe Invoice sending Integration"}),
    )
    .await
    .expect_error(409, "conflict");
    assert_eq!(
        api.show_key(&other.id).await.expect(200)["name"],
        "Payroll CSV Export",
        "a refused rename changes nothing"
    );
    // Renaming a key to its own name is not a clash.
    api.update_key(&first.id, &json!({"name": STRIPE}))
        .await
        .expect(200);

    api.revoke_key(&first.id, Some("replaced"))
        .await
        .expect(200);
    let reused = api.new_key(STRIPE, &["invoices:receive"]).await;
    assert_eq!(reused.body["name"], STRIPE);
    assert_eq!(api.verify_code(&reused.key, None).await, "VALID");
    assert_eq!(api.verify_code(&first.key, None).await, "REVOKED");
    api.create_key(&json!({"name": STRIPE}))
        .await
        .expect_error(409, "conflict");
}

#[tokio::test]
async fn health_and_readiness_probes_answer_without_a_key() {
    let app = spawn_app();
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let answer = app.anonymous().get(path).await;
        assert_eq!(
            answer.expect(200)["status"],
            status,
            "{path}: {}",
            answer.text
        );
        assert!(answer
            .header("content-type")
            .starts_with("application/json"));
    }
}
