//! The audit trail over real HTTP with the real binary: the seed's "which key deleted the
//! invoice" query, filters, pagination and the NDJSON export, management events, settings,
//! usage facts, tenancy, the `keyward audit` commands, direct edits of the database file found
//! by the chain check, and SIGKILL under load losing no answered verification.

use crate::helpers::{
    contains_bytes, describe, keyward, secret_part, spawn_app, spawn_app_with, unissued_key, Api,
    NewKey, TestApp,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::process::Output;

const STRIPE: &str = "Stripe Invoice Sending Integration";
const XERO: &str = "Xero Payroll Sync";
const IP: &str = "203.0.113.7";

/// One page of `GET /v1/audit?<query>`, asserting `200`.
async fn page(api: &Api<'_>, query: &str) -> Value {
    api.get(&format!("/v1/audit?{query}"))
        .await
        .expect(200)
        .clone()
}

/// The events of one page body.
fn events_of(page: &Value) -> Vec<Value> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit page without `events`: {page}"))
        .clone()
}

/// Every event matching `query`, newest first, in one page (asserting there is no next one).
async fn events(api: &Api<'_>, query: &str) -> Vec<Value> {
    let body = page(api, &format!("{query}&limit=1000")).await;
    assert_eq!(
        body["next_cursor"],
        Value::Null,
        "more than one page: {body}"
    );
    events_of(&body)
}

/// Every event matching `query`, following `next_cursor` with pages of `limit`; also returns
/// how many pages it took.
async fn events_paged(api: &Api<'_>, query: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("{query}&limit={limit}&cursor={c}"),
            None => format!("{query}&limit={limit}"),
        };
        let body = page(api, &query).await;
        pages += 1;
        let events = events_of(&body);
        assert!(
            events.len() <= limit as usize,
            "page over its limit: {body}"
        );
        all.extend(events);
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (all, pages),
        }
    }
}

/// `GET /v1/audit/export?<query>`: asserts NDJSON, one JSON object per `\n`-terminated line.
async fn export(api: &Api<'_>, query: &str) -> Vec<Value> {
    let answer = api.get(&format!("/v1/audit/export?{query}")).await;
    answer.expect(200);
    assert_eq!(answer.header("content-type"), "application/x-ndjson");
    ndjson(&answer.text)
}

fn ndjson(text: &str) -> Vec<Value> {
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
async fn chain(api: &Api<'_>) -> Value {
    api.get("/v1/audit/verify").await.expect(200).clone()
}

#[track_caller]
fn assert_intact(check: &Value, events: usize) {
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["events"], json!(events), "{check}");
    assert!(check.get("first_bad_seq").is_none(), "{check}");
}

/// `POST /v1/verify` with what the calling service says it is doing; returns the `code`.
async fn verify(
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
async fn initial_root_key_id(api: &Api<'_>) -> String {
    let roots = api.get("/v1/root-keys").await.expect(200).clone();
    let roots = roots.as_array().expect("a list of root keys");
    assert_eq!(roots.len(), 1, "{roots:?}");
    roots[0]["id"].as_str().expect("a root key id").to_owned()
}

fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event[field]
        .as_str()
        .unwrap_or_else(|| panic!("event without {field:?}: {event}"))
}

fn field_set(events: &[Value], field: &str) -> BTreeSet<String> {
    events.iter().map(|e| text(e, field).to_owned()).collect()
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["seq"].as_i64().unwrap_or_else(|| panic!("no seq: {e}")))
        .collect()
}

#[tokio::test]
async fn the_seeds_scenario_names_the_key_that_deleted_the_invoice() {
    let app = spawn_app();
    let api = app.api();
    let root_id = initial_root_key_id(&api).await;
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["invoices:delete"]).await;
    // Both may delete invoices; only Stripe's integration does, Xero's reads one.
    assert_eq!(
        verify(&api, &xero.key, "invoices:delete", "invoices.read", "INV-2").await,
        "VALID"
    );
    assert_eq!(
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            "INV-1"
        )
        .await,
        "VALID"
    );

    let found = events(&api, "action=invoices.delete").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let event = &found[0];
    assert_eq!(event["kind"], "key.verified");
    assert_eq!(event["key_id"], json!(stripe.id));
    assert_eq!(event["key_name"], STRIPE);
    assert_eq!(event["action"], "invoices.delete");
    assert_eq!(event["resource"], "INV-1");
    assert_eq!(event["outcome"], "VALID");
    assert_eq!(event["ip"], IP);
    assert_eq!(event["actor_id"], json!(root_id));
    assert_eq!(event["actor_name"], "Initial root key");
    assert_eq!(event["workspace_id"], json!(app.workspaces[0].id));
    for hash in ["hash", "prev_hash"] {
        let value = text(event, hash);
        assert_eq!(value.len(), 64, "{hash} is hex SHA-256: {event}");
        assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{event}");
    }
    // The event right before it in the chain is Xero's verification.
    let previous = events(&api, "kind=key.verified").await;
    assert_eq!(previous.len(), 2);
    assert_eq!(previous[1]["key_id"], json!(xero.id));
    assert_eq!(event["prev_hash"], previous[1]["hash"]);
}

#[tokio::test]
async fn queries_filter_by_kind_key_outcome_and_time() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["payroll:write"]).await;
    verify(
        &api,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-1",
    )
    .await;
    assert_eq!(
        verify(
            &api,
            &xero.key,
            "invoices:delete",
            "invoices.delete",
            "INV-2"
        )
        .await,
        "INSUFFICIENT_PERMISSIONS"
    );
    verify(&api, &xero.key, "payroll:write", "payroll.run", "PAY-1").await;
    assert_eq!(
        verify(
            &api,
            &unissued_key("bos"),
            "invoices:delete",
            "invoices.delete",
            "INV-3"
        )
        .await,
        "NOT_FOUND"
    );
    let all = events(&api, "").await;
    // workspace.created, root_key.created, 2 × key.created, 4 × key.verified
    assert_eq!(all.len(), 8, "{all:?}");
    let all_seqs = seqs(&all);
    assert!(
        all_seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {all_seqs:?}"
    );

    let created = events(&api, "kind=key.created").await;
    assert_eq!(
        field_set(&created, "key_id"),
        BTreeSet::from([stripe.id.clone(), xero.id.clone()])
    );
    assert!(created.iter().all(|e| e["outcome"] == "OK"));

    let about_xero = events(&api, &format!("key_id={}", xero.id)).await;
    let kinds: Vec<&str> = about_xero.iter().map(|e| text(e, "kind")).collect();
    assert_eq!(kinds, ["key.verified", "key.verified", "key.created"]);
    assert!(about_xero.iter().all(|e| e["key_id"] == json!(xero.id)));

    let refused = events(&api, "outcome=INSUFFICIENT_PERMISSIONS").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["key_name"], XERO);
    assert_eq!(refused[0]["resource"], "INV-2");
    let unknown = events(&api, "outcome=NOT_FOUND").await;
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        unknown[0]["key_id"],
        Value::Null,
        "an unknown key has no id"
    );
    assert_eq!(unknown[0]["resource"], "INV-3");
    let management = events(&api, "outcome=OK").await;
    assert_eq!(management.len(), 4);
    assert!(management.iter().all(|e| e["kind"] != "key.verified"));

    // Filters combine: Stripe's and Xero's attempts on invoices, of which one was allowed.
    let deletes = events(&api, "action=invoices.delete&kind=key.verified").await;
    assert_eq!(
        field_set(&deletes, "resource"),
        BTreeSet::from(["INV-1".into(), "INV-2".into(), "INV-3".into()])
    );
    let allowed = events(&api, "action=invoices.delete&outcome=VALID").await;
    assert_eq!(
        field_set(&allowed, "resource"),
        BTreeSet::from(["INV-1".into()])
    );
    let xero_allowed = events(&api, &format!("key_id={}&outcome=VALID", xero.id)).await;
    assert_eq!(
        field_set(&xero_allowed, "resource"),
        BTreeSet::from(["PAY-1".into()])
    );

    // since is inclusive, until exclusive; together they split the trail at any instant.
    // Times are RFC 3339 with milliseconds in UTC, so they order as strings.
    let pivot = text(&all[all.len() / 2], "time").to_owned();
    let expected_since: Vec<i64> = seqs(&all)
        .into_iter()
        .zip(&all)
        .filter(|(_, e)| text(e, "time") >= pivot.as_str())
        .map(|(seq, _)| seq)
        .collect();
    let expected_until: Vec<i64> = seqs(&all)
        .into_iter()
        .zip(&all)
        .filter(|(_, e)| text(e, "time") < pivot.as_str())
        .map(|(seq, _)| seq)
        .collect();
    assert!(!expected_since.is_empty());
    assert_eq!(
        seqs(&events(&api, &format!("since={pivot}")).await),
        expected_since
    );
    assert_eq!(
        seqs(&events(&api, &format!("until={pivot}")).await),
        expected_until
    );
    let first = text(&all[all.len() - 1], "time");
    let last = text(&all[0], "time");
    assert!(events(&api, &format!("since={first}&until={first}"))
        .await
        .is_empty());
    assert_eq!(
        events(&api, &format!("since={first}&until=2999-01-01T00:00:00Z"))
            .await
            .len(),
        all.len()
    );
    assert!(events(&api, "since=2999-01-01T00:00:00Z").await.is_empty());
    assert!(events(&api, &format!("until={first}")).await.is_empty());
    // An offset other than Z is the same instant.
    let last_at: DateTime<Utc> = last.parse().expect("an RFC 3339 time");
    let shifted = last_at
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("a valid offset"))
        .to_rfc3339();
    let shifted = shifted.replace('+', "%2B");
    assert_eq!(
        events(&api, &format!("since={shifted}")).await.len(),
        all.iter().filter(|e| text(e, "time") >= last).count()
    );

    for bad in [
        "kind=key.deleted",
        "outcome=MAYBE",
        "limit=0",
        "limit=1001",
        "cursor=abc",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "key=key_1",
    ] {
        api.get(&format!("/v1/audit?{bad}"))
            .await
            .expect_error(400, "bad_request");
        api.get(&format!("/v1/audit/export?{bad}"))
            .await
            .expect_error(400, "bad_request");
    }
}

#[tokio::test]
async fn pages_follow_next_cursor_without_skips_or_repeats() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    for i in 0..24 {
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            &format!("INV-{i}"),
        )
        .await;
    }
    let all = events(&api, "").await;
    assert_eq!(all.len(), 27, "3 management events and 24 verifications");
    for limit in [1, 5, 26, 27, 28] {
        let (paged, pages) = events_paged(&api, "", limit).await;
        assert_eq!(paged, all, "pages of {limit}");
        assert_eq!(
            pages,
            all.len().div_ceil(limit as usize),
            "pages of {limit}"
        );
    }
    // 24 verifications in pages of 6: the fourth page is the last, with no empty fifth.
    let verified = events(&api, "kind=key.verified").await;
    let (paged, pages) = events_paged(&api, "kind=key.verified", 6).await;
    assert_eq!(paged, verified);
    assert_eq!(pages, 4);
    let resources: HashSet<&str> = paged.iter().map(|e| text(e, "resource")).collect();
    assert_eq!(resources.len(), 24, "no event twice");

    // A cursor is a position: events appended meanwhile do not shift the next page.
    let first = page(&api, "limit=10").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    verify(
        &api,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-late",
    )
    .await;
    let second = page(&api, &format!("limit=10&cursor={cursor}")).await;
    assert_eq!(events_of(&second), all[10..20].to_vec());
}

#[tokio::test]
async fn the_export_holds_the_same_events_one_json_object_per_line() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["invoices:delete"]).await;
    for i in 0..5 {
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            &format!("INV-{i}"),
        )
        .await;
        verify(
            &api,
            &xero.key,
            "payroll:read",
            "payroll.read",
            &format!("PAY-{i}"),
        )
        .await;
    }
    for query in [
        "".to_owned(),
        "action=invoices.delete".to_owned(),
        "kind=key.created".to_owned(),
        format!("key_id={}", xero.id),
        "outcome=INSUFFICIENT_PERMISSIONS".to_owned(),
        "since=2999-01-01T00:00:00Z".to_owned(),
    ] {
        let listed = events(&api, &query).await;
        assert_eq!(export(&api, &query).await, listed, "export of {query:?}");
    }
    assert_eq!(export(&api, "action=invoices.delete").await.len(), 5);
    assert!(export(&api, "since=2999-01-01T00:00:00Z").await.is_empty());
    // The cursor applies too: the export starts below it.
    let all = events(&api, "").await;
    let cursor = all[3]["seq"].as_i64().expect("a seq");
    assert_eq!(
        export(&api, &format!("cursor={cursor}")).await,
        all[4..].to_vec()
    );
}

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

/// Deletes the event at a workspace's seq (bound in that order).
const DELETE_EVENT: &str = "DELETE FROM audit_events \
     WHERE workspace_id = (SELECT id FROM audit_names WHERE value = ?) AND seq = ?";

/// SIGKILLs the server, runs `sql` on its database with the workspace id and `seq` bound (in
/// that order), asserting it changed exactly one row, and starts the server again.
async fn tamper(app: &mut TestApp, sql: &str, seq: i64) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    app.kill();
    let mut db = SqliteConnectOptions::new()
        .filename(&app.db_path)
        .connect()
        .await
        .expect("opening the stopped server's database");
    let changed = sqlx::query(sql)
        .bind(&app.workspaces[0].id)
        .bind(seq)
        .execute(&mut db)
        .await
        .expect("editing the audit table")
        .rows_affected();
    assert_eq!(changed, 1, "{sql} with seq {seq}");
    db.close().await.expect("closing the database");
    app.restart();
}

/// A workspace with a few keys and verifications; returns the events, newest first.
async fn some_history(app: &TestApp) -> Vec<Value> {
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["payroll:write"]).await;
    for i in 0..4 {
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            &format!("INV-{i}"),
        )
        .await;
        verify(
            &api,
            &xero.key,
            "invoices:delete",
            "invoices.delete",
            &format!("INV-{i}"),
        )
        .await;
    }
    let all = events(&api, "").await;
    assert_intact(&chain(&api).await, all.len());
    all
}

/// Runs `keyward <args>` against the app as its initial root key; asserts the root key is
/// not printed.
fn cli(app: &TestApp, args: &[&str]) -> Output {
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
fn exit_code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {}", describe(out)))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn an_edited_row_is_found_at_exactly_its_seq() {
    let mut app = spawn_app();
    let all = some_history(&app).await;
    // Hide that Xero's key was refused INV-2: make its event say VALID.
    let target = all
        .iter()
        .find(|e| e["resource"] == "INV-2" && e["outcome"] == "INSUFFICIENT_PERMISSIONS")
        .expect("Xero's refused attempt");
    let seq = target["seq"].as_i64().expect("a seq");
    assert!(
        seq < all[0]["seq"].as_i64().expect("a seq"),
        "not the newest"
    );
    tamper(
        &mut app,
        // Interned columns hold ids of `audit_names` (migration 0006); VALID is there from
        // the other verifications.
        concat!(
            "UPDATE audit_events SET outcome = (SELECT id FROM audit_names WHERE value = 'VALID') ",
            "WHERE workspace_id = (SELECT id FROM audit_names WHERE value = ?) AND seq = ?"
        ),
        seq,
    )
    .await;

    let check = chain(&app.api()).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert_eq!(check["first_bad_seq"], json!(seq), "{check}");
    assert!(text(&check, "reason").contains("hash"), "{check}");

    let out = cli(&app, &["audit", "verify"]);
    assert_eq!(exit_code(&out), 1, "{}", describe(&out));
    assert!(
        stdout(&out).starts_with(&format!("chain broken at seq {seq}: ")),
        "{}",
        describe(&out)
    );
    let out = cli(&app, &["audit", "verify", "--json"]);
    assert_eq!(exit_code(&out), 1, "{}", describe(&out));
    let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(body["valid"], json!(false));
    assert_eq!(body["first_bad_seq"], json!(seq));
}

#[tokio::test]
async fn deleting_the_newest_event_is_found() {
    let mut app = spawn_app();
    let all = some_history(&app).await;
    let newest = all[0]["seq"].as_i64().expect("a seq");
    tamper(&mut app, DELETE_EVENT, newest).await;
    let check = chain(&app.api()).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert_eq!(check["first_bad_seq"], json!(newest), "{check}");
    let out = cli(&app, &["audit", "verify"]);
    assert_eq!(exit_code(&out), 1, "{}", describe(&out));
}

#[tokio::test]
async fn deleting_an_event_in_the_middle_is_found() {
    let mut app = spawn_app();
    let all = some_history(&app).await;
    let middle = all[all.len() / 2]["seq"].as_i64().expect("a seq");
    tamper(&mut app, DELETE_EVENT, middle).await;
    let check = chain(&app.api()).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert_eq!(check["first_bad_seq"], json!(middle), "{check}");
}

/// Verifications answered `200` before a SIGKILL all have their events afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_answered_verification() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 50;
    const KILL_AFTER: usize = 150;
    let mut app = spawn_app();
    let key = app.api().new_key(STRIPE, &["invoices:delete"]).await;
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    for task in 0..TASKS {
        let client = app.client.clone();
        let url = app.url("/v1/verify");
        let root_key = app.root_key().to_owned();
        let key = key.key.clone();
        let answered = answered_tx.clone();
        tokio::spawn(async move {
            for i in 0..PER_TASK {
                let resource = format!("INV-{task}-{i}");
                let sent = client
                    .post(&url)
                    .bearer_auth(&root_key)
                    .json(&json!({
                        "key": key,
                        "permission": "invoices:delete",
                        "action": "invoices.delete",
                        "resource": resource,
                    }))
                    .send()
                    .await;
                // Once the server is gone every request fails: this task is done.
                let Ok(response) = sent else { return };
                let status = response.status().as_u16();
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let _ = answered.send((resource, status, body));
            }
        });
    }
    drop(answered_tx);

    let mut answered = HashSet::new();
    let mut killed = false;
    while let Some((resource, status, body)) = answered_rx.recv().await {
        assert_eq!(status, 200, "{resource}: {body}");
        assert_eq!(body["code"], "VALID", "{resource}: {body}");
        answered.insert(resource);
        if answered.len() == KILL_AFTER {
            app.kill();
            killed = true;
        }
    }
    assert!(
        killed,
        "only {} verifications were answered",
        answered.len()
    );
    assert!(
        answered.len() < TASKS * PER_TASK,
        "the server was killed after the load ended"
    );

    app.restart();
    let api = app.api();
    let recorded = export(&api, "kind=key.verified").await;
    let resources: Vec<String> = recorded
        .iter()
        .map(|e| text(e, "resource").to_owned())
        .collect();
    let recorded_set: HashSet<String> = resources.iter().cloned().collect();
    assert_eq!(
        recorded_set.len(),
        resources.len(),
        "an event recorded twice"
    );
    let lost: Vec<&String> = answered.difference(&recorded_set).collect();
    assert!(lost.is_empty(), "answered 200 but not recorded: {lost:?}");
    let sent: HashSet<String> = (0..TASKS)
        .flat_map(|t| (0..PER_TASK).map(move |i| format!("INV-{t}-{i}")))
        .collect();
    assert!(recorded_set.is_subset(&sent));
    let all = events(&api, "").await;
    assert_intact(&chain(&api).await, all.len());

    // The chain continues from where the crash left it.
    verify(
        &api,
        &key.key,
        "invoices:delete",
        "invoices.delete",
        "INV-after",
    )
    .await;
    assert_intact(&chain(&api).await, all.len() + 1);
}

#[tokio::test]
async fn the_workspace_setting_chooses_which_verifications_are_recorded() {
    let app = spawn_app();
    let api = app.api();
    let workspace_id = app.workspaces[0].id.clone();
    assert_eq!(
        api.get("/v1/workspace").await.expect(200),
        &json!({"workspace_id": workspace_id, "verification_audit": "all", "audit_retention_days": 90})
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

#[tokio::test]
async fn the_audit_commands_show_query_export_and_check_the_trail() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["invoices:delete"]).await;
    verify(
        &api,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-1",
    )
    .await;
    verify(&api, &xero.key, "invoices:delete", "invoices.read", "INV-2").await;

    let out = cli(&app, &["audit", "--action", "invoices.delete", "--json"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(
        body,
        page(&api, "action=invoices.delete").await,
        "the server's body"
    );
    assert_eq!(body["events"][0]["key_name"], STRIPE);
    assert_eq!(body["events"].as_array().map(Vec::len), Some(1));

    let out = cli(&app, &["audit", "--action", "invoices.delete"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for column in [
        "SEQ", "TIME", "KIND", "KEY NAME", "ACTION", "RESOURCE", "OUTCOME", "IP",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    for cell in [
        STRIPE,
        "key.verified",
        "invoices.delete",
        "INV-1",
        "VALID",
        IP,
    ] {
        assert!(lines[1].contains(cell), "{cell} in {table}");
    }
    assert!(!table.contains(XERO), "{table}");

    let out = cli(&app, &["audit", "--kind", "key.created", "--key", &xero.id]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    assert!(stdout(&out).contains(XERO) && !stdout(&out).contains(STRIPE));

    let out = cli(&app, &["audit", "--limit", "2"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    assert_eq!(stdout(&out).lines().count(), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cursor"));

    let out = cli(&app, &["audit", "export", "--action", "invoices.delete"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    assert_eq!(
        ndjson(&stdout(&out)),
        events(&api, "action=invoices.delete").await
    );
    let out = cli(&app, &["audit", "export"]);
    assert_eq!(ndjson(&stdout(&out)), events(&api, "").await);

    let total = events(&api, "").await.len();
    let out = cli(&app, &["audit", "verify"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    assert_eq!(stdout(&out), format!("chain intact: {total} events\n"));
    let out = cli(&app, &["audit", "verify", "--json"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_intact(&body, total);

    let out = cli(&app, &["audit", "--kind", "key.deleted"]);
    assert_eq!(exit_code(&out), 2, "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("kind must be one of"),
        "{}",
        describe(&out)
    );
    let out = cli(&app, &["audit", "--action", "invoices.delete", "export"]);
    assert_eq!(exit_code(&out), 2, "{}", describe(&out));
    assert!(out.stdout.is_empty());
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
