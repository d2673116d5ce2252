//! `POST /v1/verify`: every code it can answer today, permissions with wildcards and
//! expressions, and malformed expressions.

use crate::helpers::{corrupt_checksum, spawn_app, unissued_key, NewKey, PREFIX};
use serde_json::{json, Value};

#[tokio::test]
async fn a_valid_key_is_answered_with_its_details() {
    let app = spawn_app();
    let api = app.api();
    let key = NewKey::from(
        &api.create_key_ok(&json!({
            "name": "Stripe Invoice Sending Integration",
            "owner_id": "cust_42",
            "permissions": ["invoices:receive", "invoices:read"],
            "expires_at": "2099-01-01T00:00:00Z",
            "metadata": {"team": "finance"}
        }))
        .await,
    );
    let answer = api.verify(&key.key, Some("invoices:receive")).await;
    answer.assert_no_store();
    let body = answer.expect(200);
    assert_eq!(body["valid"], json!(true), "{body}");
    assert_eq!(body["code"], "VALID");
    assert_eq!(body["key_id"], json!(key.id));
    assert_eq!(body["name"], "Stripe Invoice Sending Integration");
    assert_eq!(body["owner_id"], "cust_42");
    assert_eq!(
        body["permissions"],
        json!(["invoices:receive", "invoices:read"])
    );
    assert_eq!(body["expires_at"], "2099-01-01T00:00:00Z");
    assert!(
        body.get("key").is_none(),
        "verify must not echo the key: {body}"
    );
    assert!(
        !answer.text.contains(&key.key),
        "verify must not echo the key"
    );

    assert_eq!(
        api.verify_code(&key.key, None).await,
        "VALID",
        "no permission asked: the key is valid"
    );
}

#[tokio::test]
async fn unknown_malformed_and_bad_checksum_keys_are_not_found() {
    let app = spawn_app();
    let api = app.api();
    let key = api
        .new_key("Stripe Invoice Sending Integration", &["invoices:receive"])
        .await;

    let too_long = format!("{PREFIX}_{}", "A".repeat(10_000));
    let cases = [
        ("an unknown well-formed key", unissued_key(PREFIX)),
        ("a well-formed key of another issuer", unissued_key("acme")),
        ("a bad checksum", corrupt_checksum(&key.key)),
        ("a truncated key", key.key[..key.key.len() - 1].to_owned()),
        ("a key with a character changed", {
            let mut k = key.key.clone().into_bytes();
            let i = PREFIX.len() + 5;
            k[i] = if k[i] == b'x' { b'y' } else { b'x' };
            String::from_utf8(k).unwrap()
        }),
        ("no prefix", key.key[PREFIX.len() + 1..].to_owned()),
        ("an empty key", String::new()),
        ("garbage", "not a key at all".to_owned()),
        ("non-ASCII", "bos_ключ🔑".to_owned()),
        ("a very long key", too_long),
        ("the key with spaces", format!(" {} ", key.key)),
    ];
    for (what, candidate) in cases {
        let answer = api.verify(&candidate, Some("invoices:receive")).await;
        let body = answer.expect(200);
        assert_eq!(body["valid"], json!(false), "{what}: {body}");
        assert_eq!(body["code"], "NOT_FOUND", "{what}: {body}");
        for detail in ["key_id", "name", "owner_id", "permissions", "expires_at"] {
            assert!(
                matches!(body.get(detail), None | Some(Value::Null)),
                "{what}: an unknown key has no {detail}: {body}"
            );
        }
    }
    assert_eq!(
        api.verify_code(&key.key, Some("invoices:receive")).await,
        "VALID"
    );
}

#[tokio::test]
async fn a_disabled_key_is_refused() {
    let app = spawn_app();
    let api = app.api();
    let key = NewKey::from(
        &api.create_key_ok(&json!({"name": "Payroll CSV Export", "permissions": ["payroll:read"], "enabled": false}))
            .await,
    );
    let body = api
        .verify(&key.key, Some("payroll:read"))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["valid"], json!(false));
    assert_eq!(body["code"], "DISABLED");
    assert_eq!(body["key_id"], json!(key.id));
}

#[tokio::test]
async fn a_missing_permission_is_insufficient() {
    let app = spawn_app();
    let api = app.api();
    let key = api
        .new_key("Stripe Invoice Sending Integration", &["invoices:receive"])
        .await;
    let body = api
        .verify(&key.key, Some("invoices:delete"))
        .await
        .expect(200)
        .clone();
    assert_eq!(body["valid"], json!(false));
    assert_eq!(body["code"], "INSUFFICIENT_PERMISSIONS");
    assert_eq!(
        body["key_id"],
        json!(key.id),
        "a known key is identified even when refused"
    );
    for other in ["payroll:receive", "invoices:*", "*:receive"] {
        assert_eq!(
            api.verify_code(&key.key, Some(other)).await,
            "INSUFFICIENT_PERMISSIONS",
            "{other}"
        );
    }

    let none = api.new_key("Read Only Status Page", &[]).await;
    assert_eq!(
        api.verify_code(&none.key, Some("status:read")).await,
        "INSUFFICIENT_PERMISSIONS"
    );
    assert_eq!(api.verify_code(&none.key, None).await, "VALID");
}

#[tokio::test]
async fn wildcards_grant_a_whole_segment_or_everything() {
    let app = spawn_app();
    let api = app.api();
    let invoices = api.new_key("Invoice Admin Console", &["invoices:*"]).await;
    for granted in ["invoices:read", "invoices:delete", "invoices:*"] {
        assert_eq!(
            api.verify_code(&invoices.key, Some(granted)).await,
            "VALID",
            "invoices:* grants {granted}"
        );
    }
    for refused in ["payroll:read", "invoices-archive:read", "*"] {
        assert_eq!(
            api.verify_code(&invoices.key, Some(refused)).await,
            "INSUFFICIENT_PERMISSIONS",
            "invoices:* does not grant {refused}"
        );
    }

    let readers = api.new_key("Reporting Warehouse Loader", &["*:read"]).await;
    assert_eq!(
        api.verify_code(&readers.key, Some("payroll:read")).await,
        "VALID"
    );
    assert_eq!(
        api.verify_code(&readers.key, Some("payroll:write")).await,
        "INSUFFICIENT_PERMISSIONS"
    );

    let everything = api.new_key("Break Glass Operations", &["*"]).await;
    for granted in ["invoices:read", "payroll:admin", "*"] {
        assert_eq!(
            api.verify_code(&everything.key, Some(granted)).await,
            "VALID",
            "* grants {granted}"
        );
    }
}

#[tokio::test]
async fn permission_expressions_combine_with_and_or_and_parentheses() {
    let app = spawn_app();
    let api = app.api();
    let expression = "invoices:read AND (payroll:read OR payroll:admin)";
    let admin = api
        .new_key("Payroll Admin Portal", &["invoices:read", "payroll:admin"])
        .await;
    let reader = api
        .new_key("Payroll Report Reader", &["invoices:read", "payroll:read"])
        .await;
    let invoices_only = api
        .new_key("Invoice Archive Reader", &["invoices:read"])
        .await;
    let payroll_only = api
        .new_key("Payroll Only Service", &["payroll:read", "payroll:admin"])
        .await;
    let wildcard = api
        .new_key("Finance Wildcard Service", &["invoices:*", "payroll:*"])
        .await;

    assert_eq!(api.verify_code(&admin.key, Some(expression)).await, "VALID");
    assert_eq!(
        api.verify_code(&reader.key, Some(expression)).await,
        "VALID"
    );
    assert_eq!(
        api.verify_code(&wildcard.key, Some(expression)).await,
        "VALID"
    );
    assert_eq!(
        api.verify_code(&invoices_only.key, Some(expression)).await,
        "INSUFFICIENT_PERMISSIONS"
    );
    assert_eq!(
        api.verify_code(&payroll_only.key, Some(expression)).await,
        "INSUFFICIENT_PERMISSIONS"
    );

    // AND binds tighter than OR.
    assert_eq!(
        api.verify_code(
            &invoices_only.key,
            Some("invoices:read OR payroll:read AND payroll:admin")
        )
        .await,
        "VALID"
    );
    assert_eq!(
        api.verify_code(
            &invoices_only.key,
            Some("(invoices:read OR payroll:read) AND payroll:admin")
        )
        .await,
        "INSUFFICIENT_PERMISSIONS"
    );
}

#[tokio::test]
async fn a_malformed_expression_is_a_400_that_says_where() {
    let app = spawn_app();
    let api = app.api();
    let key = api
        .new_key("Payroll Admin Portal", &["invoices:read", "payroll:admin"])
        .await;
    // (expression, 1-based character where it breaks)
    let cases = [
        ("invoices:read AND AND payroll:read", 19),
        ("invoices:read AND (payroll:read OR payroll:admin", 49),
        ("invoices:read AND", 18),
        ("(invoices:read", 15),
        ("invoices:read payroll:read", 15),
        (") invoices:read", 1),
        ("invoices:read OR Payroll:Read", 18),
        ("invoices", 1),
        ("", 1),
    ];
    for (expression, at) in cases {
        let message = api
            .verify(&key.key, Some(expression))
            .await
            .expect_error(400, "bad_request");
        assert!(
            message.contains(&format!("at character {at}")),
            "{expression:?} should be reported at character {at}: {message}"
        );
    }
}
