//! Bad input of every kind gets a clear 4xx with the standard error body, and nothing is
//! lost, changed or crashed: afterwards the server still answers and holds the same keys.

use crate::helpers::{settings, spawn_app, Api, NewKey};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

const STRIPE: &str = "Stripe Invoice Sending Integration";

/// JSON bodies that must be refused with `400` on `path`.
async fn assert_bad_bodies(api: &Api<'_>, path: &str, bodies: &[&[u8]]) {
    for body in bodies {
        let answer = api.post_raw(path, body.to_vec()).await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "POST {path} with {:?} should be 400: {}",
            String::from_utf8_lossy(body),
            answer.text
        );
        answer.expect_error(400, "bad_request");
    }
}

/// The state that bad input must not change: every key, as GET shows it.
async fn snapshot(api: &Api<'_>) -> Vec<Value> {
    let mut keys = Vec::new();
    for id in api.list_all_ids("").await {
        keys.push(settings(api.show_key(&id).await.expect(200)));
    }
    keys
}

#[tokio::test]
async fn malformed_create_bodies_are_400_and_change_nothing() {
    let app = spawn_app();
    let api = app.api();
    let existing = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;

    assert_bad_bodies(
        &api,
        "/v1/keys",
        &[
            // Malformed JSON.
            br#"{"name": "Payroll CSV Export""#,
            br#"{"name": "Payroll CSV Export",}"#,
            br#"{name: "Payroll CSV Export"}"#,
            b"",
            b"   ",
            b"nul",
            br#"{"name": "Payroll CSV Export"} trailing"#,
            // Not an object, or the wrong types.
            b"null",
            b"[]",
            br#""Payroll CSV Export""#,
            br#"{"name": 42}"#,
            br#"{"name": ["Payroll CSV Export"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": "x"}"#,
            br#"{"name": "Payroll CSV Export", "permissions": [1, 2]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": null}"#,
            br#"{"name": "Payroll CSV Export", "enabled": "yes"}"#,
            br#"{"name": "Payroll CSV Export", "metadata": [1]}"#,
            br#"{"name": "Payroll CSV Export", "metadata": "x"}"#,
            br#"{"name": "Payroll CSV Export", "expires_at": "next tuesday"}"#,
            br#"{"name": "Payroll CSV Export", "expires_at": "2001-01-01T00:00:00Z"}"#,
            br#"{"name": "Payroll CSV Export", "description": 7}"#,
            // Unknown fields (a typo must not be silently ignored).
            br#"{"name": "Payroll CSV Export", "nmae": "x"}"#,
            br#"{"name": "Payroll CSV Export", "permission": ["payroll:read"]}"#,
            br#"{"name": "Payroll CSV Export", "key": "bos_chosen"}"#,
            // Invalid UTF-8, inside a string and outside one.
            b"{\"name\": \"Payroll \xff\xfe Export\"}",
            b"{\"name\": \"Payroll CSV Export\"}\xc3\x28",
            b"\xef\xbb\xbf{\"name\": \"Payroll CSV Export\"}\x80",
            // Invalid permission strings.
            br#"{"name": "Payroll CSV Export", "permissions": ["Invoices:Read"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": ["invoices"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": [""]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": ["invoices:"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": [":read"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": ["invoices:read:all"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": ["invoices read"]}"#,
            br#"{"name": "Payroll CSV Export", "permissions": ["invoices:read", "Payroll:*"]}"#,
            // Control characters where text is expected.
            br#"{"name": "Payroll\nCSV Export"}"#,
            br#"{"name": "Payroll CSV Export", "owner_id": "cust\u0000"}"#,
        ],
    )
    .await;
    let too_long_description =
        json!({"name": "Payroll CSV Export", "description": "d".repeat(5000)});
    api.create_key(&too_long_description)
        .await
        .expect_error(400, "bad_request");
    let too_many_permissions: Vec<String> = (0..101).map(|i| format!("resource{i}:read")).collect();
    api.create_key(&json!({"name": "Payroll CSV Export", "permissions": too_many_permissions}))
        .await
        .expect_error(400, "bad_request");

    assert_still_serving_unchanged(&api, &before, &existing).await;
}

#[tokio::test]
async fn malformed_update_revoke_rotate_and_verify_bodies_are_400() {
    let app = spawn_app();
    let api = app.api();
    let existing = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;
    let id = &existing.id;

    let patch_bodies: [&[u8]; 9] = [
        b"[]",
        br#"["Payroll CSV Export"]"#,
        br#"{"permissions": "x"}"#,
        br#"{"permissions": ["Invoices:Read"]}"#,
        br#"{"enabled": "false"}"#,
        br#"{"nmae": "Payroll CSV Export"}"#,
        br#"{"metadata": 5}"#,
        b"{\"description\": \"\xff\"}",
        br#"{"name": "#,
    ];
    for body in patch_bodies {
        let answer = api
            .send(
                api.request(Method::PATCH, &format!("/v1/keys/{id}"))
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_vec()),
            )
            .await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "PATCH with {:?}: {}",
            String::from_utf8_lossy(body),
            answer.text
        );
        answer.expect_error(400, "bad_request");
    }

    assert_bad_bodies(
        &api,
        &format!("/v1/keys/{id}/revoke"),
        &[
            br#"{"reason": 5}"#,
            br#"{"reasn": "leaked"}"#,
            br#"[]"#,
            b"{\"reason\": \"\xc0\"}",
            b"{",
        ],
    )
    .await;
    assert_bad_bodies(
        &api,
        &format!("/v1/keys/{id}/rotate"),
        &[
            br#"{"grace_period_seconds": -1}"#,
            br#"{"grace_period_seconds": "60"}"#,
            br#"{"grace_period_seconds": 1.5}"#,
            br#"{"grace_period_seconds": 99999999999}"#,
            br#"{"grace_period_seconds": 18446744073709551616}"#,
            br#"{"grace": 60}"#,
            b"[]",
            b"[60]",
            b"null",
        ],
    )
    .await;
    let key = existing.key.as_str();
    let verify_bodies = [
        b"{}".to_vec(),
        br#"{"key": 5}"#.to_vec(),
        br#"{"key": null}"#.to_vec(),
        format!(r#"{{"key": "{key}", "permission": 5}}"#).into_bytes(),
        format!(r#"{{"key": "{key}", "permission": ["invoices:receive"]}}"#).into_bytes(),
        format!(r#"{{"key": "{key}", "permision": "invoices:receive"}}"#).into_bytes(),
        format!(r#"{{"key": "{key}", "permission": "Invoices:Receive"}}"#).into_bytes(),
        [format!("{{\"key\": \"{key}").as_bytes(), b"\xff\"}"].concat(),
        format!(r#"{{"key": "{key}""#).into_bytes(),
    ];
    let verify_bodies: Vec<&[u8]> = verify_bodies.iter().map(Vec::as_slice).collect();
    assert_bad_bodies(&api, "/v1/verify", &verify_bodies).await;

    assert_still_serving_unchanged(&api, &before, &existing).await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app();
    let api = app.api();
    let existing = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;

    let big = json!({"name": "Payroll CSV Export", "description": "d".repeat(70 * 1024)});
    api.create_key(&big)
        .await
        .expect_error(413, "payload_too_large");
    let huge = json!({"name": "Payroll CSV Export", "metadata": {"blob": "m".repeat(1024 * 1024)}});
    api.create_key(&huge)
        .await
        .expect_error(413, "payload_too_large");
    let big_verify = json!({"key": existing.key, "permission": "a".repeat(65 * 1024)});
    api.post("/v1/verify", &big_verify)
        .await
        .expect_error(413, "payload_too_large");
    let big_patch = json!({"description": "d".repeat(65 * 1024)});
    api.update_key(&existing.id, &big_patch)
        .await
        .expect_error(413, "payload_too_large");
    // Just over the limit, even when it is not valid JSON.
    api.post_raw("/v1/keys", vec![b'{'; 64 * 1024 + 1])
        .await
        .expect_error(413, "payload_too_large");

    // Under the limit, the field limits apply instead: 400, not 413.
    let under = json!({"name": "Payroll CSV Export", "description": "d".repeat(60 * 1024)});
    api.create_key(&under)
        .await
        .expect_error(400, "bad_request");
    let metadata =
        json!({"name": "Payroll CSV Export", "metadata": {"blob": "m".repeat(20 * 1024)}});
    api.create_key(&metadata)
        .await
        .expect_error(400, "bad_request");

    assert_still_serving_unchanged(&api, &before, &existing).await;
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_415() {
    let app = spawn_app();
    let api = app.api();
    let existing = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;
    let body = r#"{"name": "Payroll CSV Export"}"#;
    let missing = api
        .send(api.request(Method::POST, "/v1/keys").body(body))
        .await;
    missing.expect_error(415, "unsupported_media_type");
    let text = api
        .send(
            api.request(Method::POST, "/v1/keys")
                .header(CONTENT_TYPE, "text/plain")
                .body(body),
        )
        .await;
    text.expect_error(415, "unsupported_media_type");
    let form = api
        .send(
            api.request(Method::POST, "/v1/keys")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("name=Payroll+CSV+Export"),
        )
        .await;
    form.expect_error(415, "unsupported_media_type");
    let verify = api
        .send(
            api.request(Method::POST, "/v1/verify")
                .body(format!(r#"{{"key": "{}"}}"#, existing.key)),
        )
        .await;
    verify.expect_error(415, "unsupported_media_type");

    assert_still_serving_unchanged(&api, &before, &existing).await;
}

#[tokio::test]
async fn unknown_routes_methods_and_queries_get_json_errors() {
    let app = spawn_app();
    let api = app.api();
    let existing = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;

    for path in [
        "/v1/nope",
        "/nope",
        "/v2/keys",
        "/v1/keys/x/y/z",
        "/v1/keys/%FF",
    ] {
        api.get(path).await.expect_error(404, "not_found");
    }
    app.anonymous()
        .get("/v1/unknown")
        .await
        .expect_error(404, "not_found");
    api.send(api.request(Method::DELETE, "/v1/keys"))
        .await
        .expect_error(405, "method_not_allowed");
    api.send(api.request(Method::PUT, &format!("/v1/keys/{}", existing.id)))
        .await
        .expect_error(405, "method_not_allowed");
    api.send(api.request(Method::GET, "/v1/verify"))
        .await
        .expect_error(405, "method_not_allowed");

    for query in [
        "?limit=abc",
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?limit=99999999999",
        "?status=sleeping",
        "?status=",
        "?cursor=not-a-cursor",
        "?cursor=key_zz",
        "?colour=blue",
        "?limit=3&limit=4",
    ] {
        let answer = api.list_keys(query).await;
        assert_eq!(
            answer.status.as_u16(),
            400,
            "GET /v1/keys{query}: {}",
            answer.text
        );
        answer.expect_error(400, "bad_request");
    }

    assert_still_serving_unchanged(&api, &before, &existing).await;
}

#[tokio::test]
async fn errors_never_echo_a_key_sent_in_the_wrong_place() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:receive"]).await;
    let secret = crate::helpers::secret_part(&key.key);
    // More of the key than its public `start` shows.
    let too_much = &key.key[..key.body["start"].as_str().unwrap().len() + 8];
    let k = key.key.as_str();
    let mut answers = Vec::new();
    for body in [
        json!({"name": "Payroll CSV Export", "permissions": k}),
        json!({"name": "Payroll CSV Export", "permissions": [k]}),
        json!({"name": "Payroll CSV Export", "metadata": k}),
        json!({"name": "Payroll CSV Export", "enabled": k}),
        json!({"name": "Payroll CSV Export", "expires_at": k}),
        json!({"name": k, "bos_key": k}),
        json!({"name": "Payroll CSV Export", "description": k, "x": 1}),
    ] {
        answers.push((format!("POST /v1/keys {body}"), api.create_key(&body).await));
    }
    let patch = json!({"permissions": [k]});
    answers.push((
        format!("PATCH {patch}"),
        api.update_key(&key.id, &patch).await,
    ));
    for permission in [k.to_owned(), format!("invoices:read AND {k}")] {
        answers.push((
            format!("verify with permission {permission:?}"),
            api.verify(k, Some(&permission)).await,
        ));
    }
    let rights = api.create_root_key("Pasted Key Root Key", &[k]).await;
    answers.push(("a key as a root-key right".to_owned(), rights));
    let cursor = api.get(&format!("/v1/keys?owner_id=x&cursor={k}")).await;
    answers.push(("a key as the list cursor".to_owned(), cursor));

    let mut leaks = Vec::new();
    for (what, answer) in &answers {
        answer.expect_error(400, "bad_request");
        if answer.text.contains(secret) || answer.text.contains(too_much) {
            leaks.push(format!("{what}: {}", answer.text));
        }
    }
    assert!(
        leaks.is_empty(),
        "errors echo the key:\n{}",
        leaks.join("\n")
    );
}

#[tokio::test]
async fn errors_never_echo_a_key_as_a_field_name_a_query_parameter_or_an_allowlist_entry() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:receive"]).await;
    // The key itself, a look-alike with a broken checksum (still most of a secret) and the
    // root key: none may come back, whole or as its secret part.
    let look_alike = crate::helpers::corrupt_checksum(&key.key);
    let root = app.root_key().to_owned();
    for k in [key.key.as_str(), look_alike.as_str(), root.as_str()] {
        let secret = crate::helpers::secret_part(k);
        let mut answers = Vec::new();
        let field_name = json!({"name": "Payroll CSV Export", k: 1});
        answers.push((
            "a key as a JSON field name of create",
            api.create_key(&field_name).await,
        ));
        let verify = json!({"key": "bos_x", k: "x"});
        answers.push((
            "a key as a JSON field name of verify",
            api.post("/v1/verify", &verify).await,
        ));
        let update = json!({k: true});
        answers.push((
            "a key as a JSON field name of update",
            api.update_key(&key.id, &update).await,
        ));
        let report = json!({"keys": ["bos_x"], k: "x"});
        answers.push((
            "a key as a JSON field name of a leak report",
            app.anonymous().post("/v1/leaks", &report).await,
        ));
        answers.push((
            "a key as a query parameter name",
            api.get(&format!("/v1/keys?{k}=1")).await,
        ));
        answers.push((
            "a key as an audit query parameter name",
            api.get(&format!("/v1/audit?limit=5&{k}")).await,
        ));
        answers.push((
            "a key as a query parameter value",
            api.get(&format!("/v1/keys?status={k}")).await,
        ));
        let ips = json!({"name": "Payroll CSV Export", "ip_allowlist": ["10.0.0.0/8", k]});
        answers.push(("a key in the IP allowlist", api.create_key(&ips).await));
        let origins = json!({"origin_allowlist": [k]});
        answers.push((
            "a key in the origin allowlist",
            api.update_key(&key.id, &origins).await,
        ));

        let mut leaks = Vec::new();
        for (what, answer) in &answers {
            let message = answer.expect_error(400, "bad_request");
            if answer.text.contains(secret) {
                leaks.push(format!("{what}: {}", answer.text));
            }
            assert!(!message.trim().is_empty(), "{what}");
        }
        assert!(
            leaks.is_empty(),
            "errors echo {k:.12}…:\n{}",
            leaks.join("\n")
        );
        // Still useful: which field, where, and what was expected.
        let unknown = &answers[0].1.json["error"]["message"];
        let unknown = unknown.as_str().unwrap();
        assert!(unknown.contains("unknown field"), "{unknown}");
        assert!(
            unknown.contains("`name`"),
            "the expected fields are listed: {unknown}"
        );
        assert!(
            unknown.contains("column"),
            "the position is given: {unknown}"
        );
        let ip = answers[7].1.json["error"]["message"].as_str().unwrap();
        assert!(ip.contains("ip_allowlist[1]"), "{ip}");
        let origin = answers[8].1.json["error"]["message"].as_str().unwrap();
        assert!(origin.contains("origin_allowlist[0]"), "{origin}");
    }
}

#[tokio::test]
async fn free_text_for_the_audit_trail_must_be_one_plain_line() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:receive"]).await;
    for (field, value) in [
        ("resource", "INV-1\nkey.revoked by admin"),
        ("action", "invoices.read\r\nkey.deleted"),
        ("user_agent", "curl/8 \u{202E}gpj.exe"),
        ("origin", "https://app.example.com\u{2066}"),
        ("resource", "INV-\u{200F}42"),
        ("ip", "10.0.0.1\t10.0.0.2"),
    ] {
        let body = json!({"key": key.key, field: value});
        let answer = api.post("/v1/verify", &body).await;
        let message = answer.expect_error(400, "bad_request");
        assert!(message.contains(field), "{field}: {message}");
    }
    let keys = [json!({"key": key.key, "location": "a.txt\nb.txt"})];
    app.anonymous()
        .post("/v1/leaks", &json!({"keys": keys}))
        .await
        .expect_error(400, "bad_request");
    app.anonymous()
        .post(
            "/v1/leaks",
            &json!({"keys": [key.key], "source": "scan \u{202E}of share"}),
        )
        .await
        .expect_error(400, "bad_request");
    // Refused before anything happened: the key is still live, and nothing was recorded.
    assert_eq!(api.verify_code(&key.key, None).await, "VALID");
    let leaked = api
        .get("/v1/audit?kind=key.leaked")
        .await
        .expect(200)
        .clone();
    assert_eq!(leaked["events"], json!([]), "{leaked}");
    // Ordinary text, with accents and a trailing newline (trimmed), is fine.
    let body = json!({"key": key.key, "resource": "factures/été-2024\n", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"});
    api.post("/v1/verify", &body).await.expect(200);
}

#[tokio::test]
async fn reasons_owner_ids_and_descriptions_refuse_forged_lines_and_bidi_controls() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;
    // A revocation reason is one plain line: it is the key.revoked event's detail.
    for reason in [
        "ok\nkey.revoked by rk_admin\u{202E}evil",
        "ok\nkey.revoked by rk_admin",
        "rotated\r\nkey.deleted",
        "ok \u{202E}live.eht",
        "ok \u{2066}x\u{2069}",
        "ok\u{200F}",
        "tab\there",
        "\u{1b}[31mred",
    ] {
        let message = api
            .revoke_key(&key.id, Some(reason))
            .await
            .expect_error(400, "bad_request");
        assert!(message.contains("reason"), "{reason:?}: {message}");
    }
    // The owner id is one plain line too; a description may have lines, nothing else.
    for body in [
        json!({"owner_id": "user_1\nkey.revoked by rk_admin"}),
        json!({"owner_id": "user_1\u{202E}"}),
        json!({"description": "billing\u{202E}evil"}),
        json!({"description": "line one\nline \u{2067}two"}),
        json!({"description": "line one\r\nline two"}),
        json!({"description": "bell\u{7}"}),
    ] {
        let field = body.as_object().and_then(|o| o.keys().next().cloned());
        let field = field.unwrap_or_default();
        let message = api
            .update_key(&key.id, &body)
            .await
            .expect_error(400, "bad_request");
        assert!(message.contains(&field), "{body}: {message}");
        let mut create = body.clone();
        create["name"] = json!("Payroll CSV Export");
        let message = api
            .create_key(&create)
            .await
            .expect_error(400, "bad_request");
        assert!(message.contains(&field), "{create}: {message}");
    }
    // Refused before anything happened: the key is live and unchanged, nothing recorded.
    assert_eq!(snapshot(&api).await, before);
    assert_eq!(api.verify_code(&key.key, None).await, "VALID");
    let revoked = api
        .get("/v1/audit?kind=key.revoked")
        .await
        .expect(200)
        .clone();
    assert_eq!(revoked["events"], json!([]), "{revoked}");
    // A description keeps its lines; a plain reason is recorded as given.
    let updated = api
        .update_key(&key.id, &json!({"description": "Sends invoices.\nOwned by billing.", "owner_id": "team-billing"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(updated["description"], "Sends invoices.\nOwned by billing.");
    api.revoke_key(&key.id, Some("no longer used, café"))
        .await
        .expect(200);
    let revoked = api
        .get("/v1/audit?kind=key.revoked")
        .await
        .expect(200)
        .clone();
    assert_eq!(
        revoked["events"][0]["detail"], "no longer used, café",
        "{revoked}"
    );
}

#[tokio::test]
async fn names_with_invisible_or_bidirectional_characters_are_refused() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:receive"]).await;
    for look_alike in [
        "Stripe\u{200B} Invoice Sending Integration",
        "Stripe Invoice Sending Integration\u{200D}",
        "\u{FEFF}Stripe Invoice Sending Integration",
        "Stripe Invoice \u{202E}noitargetnI gnidneS",
        "Stripe Invoice Sending \u{2066}Integration\u{2069}",
    ] {
        let message = api
            .create_key(&json!({"name": look_alike}))
            .await
            .expect_error(400, "bad_request");
        assert!(message.contains("invisible"), "{message}");
        api.update_key(&key.id, &json!({"name": look_alike}))
            .await
            .expect_error(400, "bad_request");
        api.create_root_key(look_alike, &["keys:read"])
            .await
            .expect_error(400, "bad_request");
    }
    assert_eq!(api.show_key(&key.id).await.expect(200)["name"], STRIPE);
}

#[tokio::test]
async fn invalid_utf8_and_odd_authorization_headers_are_401_not_a_crash() {
    let app = spawn_app();
    let api = app.api();
    let existing = api.new_key(STRIPE, &["invoices:receive"]).await;
    let before = snapshot(&api).await;
    let header =
        |bytes: &[u8]| reqwest::header::HeaderValue::from_bytes(bytes).expect("a header value");
    for value in [
        header(b"Bearer \xff\xfe"),
        header(b"Bearer"),
        header(b"Bearer "),
        header(b"bearer  "),
        header(b"Token abc"),
        header(b"Basic dXNlcjpwYXNz"),
    ] {
        let anonymous = app.anonymous();
        let answer = anonymous
            .send(
                anonymous
                    .request(Method::GET, "/v1/keys")
                    .header(AUTHORIZATION, value.clone()),
            )
            .await;
        assert_eq!(
            answer.status.as_u16(),
            401,
            "Authorization {value:?}: {}",
            answer.text
        );
        answer.expect_error(401, "unauthorized");
    }
    assert_still_serving_unchanged(&api, &before, &existing).await;
}

/// The server answers its probes and a normal request, and the keys are exactly as before.
async fn assert_still_serving_unchanged(api: &Api<'_>, before: &[Value], existing: &NewKey) {
    let health = api.get("/healthz").await;
    health.expect(200);
    api.get("/readyz").await.expect(200);
    assert_eq!(
        snapshot(api).await,
        before,
        "bad input changed the stored keys"
    );
    assert_eq!(
        api.verify_code(&existing.key, Some("invoices:receive"))
            .await,
        "VALID"
    );
}
