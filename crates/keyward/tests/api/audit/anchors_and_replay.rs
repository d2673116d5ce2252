//! Cheap edits of a stopped server's database that the hash chain alone does not catch
//! (issue 15, point 4), each made with real SQL on the real file: the chain head deleted or
//! moved back, a forged retention checkpoint hiding a `key.revoked` event, the tail truncated
//! with the head moved to match, the chain re-hashed forward, and a revoked key made live
//! again in the `keys` table. Each is found by `audit verify`, the last three with a signed
//! anchor taken before the edit or by replaying key state from the chain.

use crate::helpers::{describe, keyward, spawn_process_app, spawn_process_app_env, Api, TestApp};
use keyward_core::{AuditEvent, NewEvent};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// The workspace-name id of an interned workspace id, for `audit_events.workspace_id`.
const WS: &str = "(SELECT id FROM audit_names WHERE value = ?)";

/// SIGKILLs the server and opens its database file, as an attacker with write access would.
async fn stop_and_open(app: &mut TestApp) -> SqliteConnection {
    app.kill();
    SqliteConnectOptions::new()
        .filename(&app.db_path)
        .connect()
        .await
        .expect("opening the stopped server's database")
}

/// Closes the edited database and starts the server on it again.
async fn close_and_start(app: &mut TestApp, db: SqliteConnection) {
    db.close().await.expect("closing the database");
    app.restart();
}

/// Runs `sql` with `binds` (texts and integers), returning the rows changed.
async fn run(db: &mut SqliteConnection, sql: &str, binds: &[Value]) -> u64 {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            Value::Number(n) => query.bind(n.as_i64().expect("an integer")),
            Value::String(s) => query.bind(s.clone()),
            other => panic!("cannot bind {other}"),
        };
    }
    query
        .execute(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows_affected()
}

/// `GET /v1/audit/verify`.
async fn chain(api: &Api<'_>) -> Value {
    api.get("/v1/audit/verify").await.expect(200).clone()
}

/// `POST /v1/audit/verify` against `anchor`.
async fn chain_from(api: &Api<'_>, anchor: &Value) -> Value {
    api.post("/v1/audit/verify", &json!({ "anchor": anchor }))
        .await
        .expect(200)
        .clone()
}

/// `POST /v1/audit/anchor`: the head signed now.
async fn anchor(api: &Api<'_>) -> Value {
    api.post("/v1/audit/anchor", &json!({}))
        .await
        .expect(200)
        .clone()
}

/// Every event of the workspace, oldest first.
async fn events(api: &Api<'_>) -> Vec<Value> {
    let page = api.get("/v1/audit?limit=1000").await.expect(200).clone();
    assert!(page["next_cursor"].is_null(), "more than one page");
    let mut events = page["events"].as_array().expect("events").clone();
    events.reverse();
    events
}

fn seq(event: &Value) -> i64 {
    event["seq"].as_i64().expect("a seq")
}

#[track_caller]
fn assert_broken_at(check: &Value, seq: i64, reason: &str) {
    assert_eq!(check["valid"], json!(false), "{check}");
    assert_eq!(check["first_bad_seq"], json!(seq), "{check}");
    let said = check["reason"].as_str().unwrap_or_default();
    assert!(
        said.contains(reason),
        "reason {said:?} lacks {reason:?}: {check}"
    );
}

/// Two keys, one revoked, and verifications of both; returns the events, oldest first.
async fn history(app: &TestApp) -> Vec<Value> {
    let api = app.api();
    let stripe = api
        .new_key("Stripe Invoice Sending Integration", &["invoices:read"])
        .await;
    let xero = api.new_key("Xero Payroll Sync", &["payroll:write"]).await;
    for _ in 0..3 {
        api.verify(&stripe.key, Some("invoices:read"))
            .await
            .expect(200);
        api.verify(&xero.key, Some("payroll:write"))
            .await
            .expect(200);
    }
    api.revoke_key(&xero.id, Some("contractor left"))
        .await
        .expect(200);
    api.verify(&xero.key, None).await.expect(200);
    let all = events(&api).await;
    let check = chain(&api).await;
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["events"], json!(all.len()), "{check}");
    all
}

/// Runs `keyward audit verify <args>` as the initial root key.
fn cli_verify(app: &TestApp, args: &[&str]) -> std::process::Output {
    keyward()
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_ROOT_KEY", app.root_key())
        .args(["audit", "verify"])
        .args(args)
        .output()
        .expect("running keyward audit verify")
}

#[tokio::test]
async fn deleting_the_chain_head_row_is_found() {
    let mut app = spawn_process_app();
    let all = history(&app).await;
    let ws = app.workspaces[0].id.clone();
    let mut db = stop_and_open(&mut app).await;
    let deleted = run(
        &mut db,
        "DELETE FROM audit_heads WHERE workspace_id = ?",
        &[json!(ws)],
    )
    .await;
    assert_eq!(deleted, 1);
    close_and_start(&mut app, db).await;

    let check = chain(&app.api()).await;
    assert_broken_at(&check, seq(&all[0]), "no recorded head");
    let out = cli_verify(&app, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[tokio::test]
async fn moving_the_head_back_is_found() {
    let mut app = spawn_process_app();
    let all = history(&app).await;
    // Back to the event before the revocation: the revocation and what follows would go
    // unchecked.
    let revoked = all
        .iter()
        .position(|e| e["kind"] == "key.revoked")
        .expect("key.revoked");
    let back = &all[revoked - 1];
    let ws = app.workspaces[0].id.clone();
    let mut db = stop_and_open(&mut app).await;
    let moved = run(
        &mut db,
        "UPDATE audit_heads SET seq = ?, hash = ? WHERE workspace_id = ?",
        &[json!(seq(back)), back["hash"].clone(), json!(ws)],
    )
    .await;
    assert_eq!(moved, 1);
    close_and_start(&mut app, db).await;

    let check = chain(&app.api()).await;
    assert_broken_at(&check, seq(back) + 1, "moved back");
}

#[tokio::test]
async fn a_forged_checkpoint_cannot_hide_a_revoked_key() {
    let mut app = spawn_process_app();
    let all = history(&app).await;
    let revoked = all
        .iter()
        .find(|e| e["kind"] == "key.revoked")
        .expect("key.revoked");
    // The checkpoint an attacker needs: a cut just past the revocation, with every event
    // at or before it but the revocation itself counted as kept, so the gap reads as
    // retention's. It is written where the checkpoint used to live (and where the upgrade
    // takes old checkpoints from): neither place is trusted any more.
    let cut = all
        .iter()
        .find(|e| seq(e) == seq(revoked) + 1)
        .expect("an event after it");
    let retained = seq(cut) - 1;
    let ws = app.workspaces[0].id.clone();
    let mut db = stop_and_open(&mut app).await;
    let sql = format!("DELETE FROM audit_events WHERE workspace_id = {WS} AND seq = ?");
    assert_eq!(
        run(&mut db, &sql, &[json!(ws), json!(seq(revoked))]).await,
        1
    );
    for table in ["audit_checkpoints", "audit_checkpoints_unchained"] {
        run(
            &mut db,
            &format!(
                "CREATE TABLE IF NOT EXISTS {table} (workspace_id TEXT NOT NULL PRIMARY KEY, \
                 seq INTEGER NOT NULL, hash TEXT NOT NULL, retained INTEGER NOT NULL)"
            ),
            &[],
        )
        .await;
        let forged = format!("INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?)");
        let binds = [
            json!(ws),
            json!(seq(cut)),
            cut["hash"].clone(),
            json!(retained),
        ];
        assert_eq!(run(&mut db, &forged, &binds).await, 1);
    }
    close_and_start(&mut app, db).await;

    let api = app.api();
    assert!(
        events(&api)
            .await
            .iter()
            .all(|e| e["kind"] != "key.revoked"),
        "the revocation is gone from the trail"
    );
    let check = chain(&api).await;
    assert_broken_at(
        &check,
        seq(revoked),
        &format!("expected seq {}", seq(revoked)),
    );
}

#[tokio::test]
async fn resetting_revoked_at_is_found_by_replaying_key_state() {
    let mut app = spawn_process_app();
    history(&app).await;
    let api = app.api();
    let keys = api.list_keys("?status=revoked").await.expect(200).clone();
    let xero = keys["keys"][0]["id"]
        .as_str()
        .expect("the revoked key")
        .to_owned();
    let mut db = stop_and_open(&mut app).await;
    let sql = "UPDATE keys SET revoked_at = NULL, revoked_reason = NULL WHERE id = ?";
    assert_eq!(run(&mut db, sql, &[json!(xero)]).await, 1);
    close_and_start(&mut app, db).await;

    let api = app.api();
    let shown = api.show_key(&xero).await.expect(200).clone();
    assert_eq!(
        shown["status"], "active",
        "the edit made the key live again"
    );
    let check = chain(&api).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert!(
        check.get("first_bad_seq").is_none(),
        "the chain itself is intact: {check}"
    );
    let unexplained = check["unexplained"]
        .as_array()
        .expect("unexplained records");
    assert_eq!(unexplained.len(), 1, "{check}");
    assert_eq!(unexplained[0]["id"], json!(xero));
    let reason = unexplained[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("revoked it, but storage holds it unrevoked"),
        "{reason}"
    );

    let out = cli_verify(&app, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&xero), "{}", describe(&out));
}

#[tokio::test]
async fn truncating_the_tail_and_moving_the_head_is_caught_by_an_anchor() {
    let mut app = spawn_process_app();
    let all = history(&app).await;
    let signed = anchor(&app.api()).await;
    let head = all.last().expect("events");
    assert_eq!(signed["seq"], json!(seq(head)), "{signed}");
    // Everything from the revocation on goes; the head is moved to the event before it.
    let revoked = all
        .iter()
        .position(|e| e["kind"] == "key.revoked")
        .expect("key.revoked");
    let back = &all[revoked - 1];
    let ws = app.workspaces[0].id.clone();
    let mut db = stop_and_open(&mut app).await;
    let sql = format!("DELETE FROM audit_events WHERE workspace_id = {WS} AND seq > ?");
    let gone = run(&mut db, &sql, &[json!(ws), json!(seq(back))]).await;
    assert_eq!(gone, u64::try_from(all.len() - revoked).unwrap());
    let sql = "UPDATE audit_heads SET seq = ?, hash = ? WHERE workspace_id = ?";
    assert_eq!(
        run(
            &mut db,
            sql,
            &[json!(seq(back)), back["hash"].clone(), json!(ws)]
        )
        .await,
        1
    );
    // So that replaying key state does not give the edit away instead of the anchor.
    assert_eq!(
        run(
            &mut db,
            "UPDATE keys SET revoked_at = NULL, revoked_reason = NULL \
        WHERE revoked_at IS NOT NULL",
            &[]
        )
        .await,
        1
    );
    close_and_start(&mut app, db).await;

    let api = app.api();
    let check = chain(&api).await;
    assert_eq!(
        check["valid"],
        json!(true),
        "undetectable without the anchor: {check}"
    );
    let check = chain_from(&api, &signed).await;
    assert_broken_at(&check, seq(back) + 1, "before the anchored seq");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchor.json");
    std::fs::write(&file, format!("{signed}\n")).unwrap();
    let out = cli_verify(&app, &["--anchor", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[tokio::test]
async fn rehashing_the_chain_forward_is_caught_by_an_anchor() {
    let mut app = spawn_process_app();
    let all = history(&app).await;
    let signed = anchor(&app.api()).await;
    // Turn the first refused-or-valid verification of Xero's key into a verification of
    // nothing, then re-hash every event after it so that every link holds again.
    let target = all
        .iter()
        .position(|e| e["kind"] == "key.verified")
        .expect("a verification");
    let ws = app.workspaces[0].id.clone();
    let mut db = stop_and_open(&mut app).await;
    let mut prev_hash = all[target - 1]["hash"].as_str().unwrap().to_owned();
    for (i, event) in all.iter().enumerate().skip(target) {
        let mut fields: NewEvent = serde_json::from_value(event.clone()).expect("an event");
        if i == target {
            fields.resource = Some("nothing to see".into());
            let sql = format!(
                "UPDATE audit_events SET resource = ? WHERE workspace_id = {WS} AND seq = ?"
            );
            run(
                &mut db,
                &sql,
                &[json!("nothing to see"), json!(ws), json!(seq(event))],
            )
            .await;
        }
        let hash = AuditEvent::hash_of(&fields, seq(event), &prev_hash);
        let sql = format!(
            "UPDATE audit_events SET prev_hash = unhex(?), hash = unhex(?) \
             WHERE workspace_id = {WS} AND seq = ?"
        );
        let binds = [json!(prev_hash), json!(hash), json!(ws), json!(seq(event))];
        assert_eq!(run(&mut db, &sql, &binds).await, 1);
        prev_hash = hash;
    }
    let sql = "UPDATE audit_heads SET hash = ? WHERE workspace_id = ?";
    assert_eq!(run(&mut db, sql, &[json!(prev_hash), json!(ws)]).await, 1);
    close_and_start(&mut app, db).await;

    let api = app.api();
    let check = chain(&api).await;
    assert_eq!(
        check["valid"],
        json!(true),
        "undetectable without the anchor: {check}"
    );
    let check = chain_from(&api, &signed).await;
    assert_broken_at(&check, seq(&signed), "not the one the anchor signed");
}

#[tokio::test]
async fn an_intact_chain_extends_its_anchors_and_forged_anchors_are_refused() {
    let app = spawn_process_app_env(1, &[("KEYWARD_ANCHOR_INTERVAL_SECS", "1")]);
    let all = history(&app).await;
    let api = app.api();
    let signed = anchor(&api).await;
    api.new_key("Payroll Export", &["payroll:read"]).await;
    let check = chain_from(&api, &signed).await;
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["anchor_seq"], signed["seq"], "{check}");

    // `keyward audit anchor` prints one signed head; `verify --anchor` checks against it.
    let out = keyward()
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_ROOT_KEY", app.root_key())
        .args(["audit", "anchor"])
        .output()
        .expect("running keyward audit anchor");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("one JSON anchor");
    assert_eq!(printed["public_key"], signed["public_key"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchor.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = cli_verify(&app, &["--anchor", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "extends the signed anchor at seq {}",
            printed["seq"]
        )),
        "{said}"
    );

    // The key is private and beside the database; its public half is published beside it.
    let key_file = app.db_path.with_extension("db.anchor-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("the key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let public = std::fs::read_to_string(app.db_path.with_extension("db.anchor-key.pub"))
        .expect("the public key file");
    assert_eq!(public.trim(), signed["public_key"].as_str().unwrap());
    let private = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !app.log_text().contains(private.trim()),
        "the signing key is in the log"
    );

    // Anchors are signed in the background too, and every one is in the anchor log.
    app.wait_for_log("signed an audit anchor");
    let log = std::fs::read_to_string(app.db_path.with_extension("db.audit-anchors"))
        .expect("the anchor log");
    assert!(log
        .lines()
        .any(|line| line.contains(signed["signature"].as_str().unwrap())));

    // An anchor changed after signing, or signed by another key, proves nothing.
    let mut moved = signed.clone();
    moved["seq"] = json!(seq(&all[0]));
    let refused = api
        .post("/v1/audit/verify", &json!({ "anchor": moved }))
        .await;
    refused.expect_error(400, "bad_request");
    let mut other_key = signed.clone();
    other_key["public_key"] = json!("00".repeat(32));
    let refused = api
        .post("/v1/audit/verify", &json!({ "anchor": other_key }))
        .await;
    assert!(refused
        .expect_error(400, "bad_request")
        .contains("another key"));
}

/// The strongest form of the forged checkpoint: the hash is unkeyed, so a writer who computes
/// SHA-256 can append a well-formed `audit.checkpoint` event that claims the revocation was
/// pruned, and reset the key to match. Only an anchor signed after the revocation catches it:
/// it counted the events retention never deletes.
#[tokio::test]
async fn a_forged_chained_checkpoint_is_caught_by_an_anchor() {
    let mut app = spawn_process_app();
    let all = history(&app).await;
    let signed = anchor(&app.api()).await;
    let revoked = all
        .iter()
        .find(|e| e["kind"] == "key.revoked")
        .expect("key.revoked");
    let head = all.last().expect("events");
    let ws = app.workspaces[0].id.clone();
    let cut = keyward_core::Checkpoint {
        seq: seq(revoked),
        hash: revoked["hash"].as_str().unwrap().to_owned(),
        retained: u64::try_from(seq(revoked) - 1).unwrap(),
    };
    let time = chrono::DateTime::parse_from_rfc3339(head["time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let forged = cut.event(&ws, time);
    let prev_hash = head["hash"].as_str().unwrap();
    let hash = AuditEvent::hash_of(&forged, seq(head) + 1, prev_hash);

    let mut db = stop_and_open(&mut app).await;
    let sql = format!("DELETE FROM audit_events WHERE workspace_id = {WS} AND seq = ?");
    assert_eq!(
        run(&mut db, &sql, &[json!(ws), json!(seq(revoked))]).await,
        1
    );
    run(
        &mut db,
        "INSERT OR IGNORE INTO audit_names (value) VALUES ('audit.checkpoint')",
        &[],
    )
    .await;
    let name =
        |column: &str| format!("(SELECT id FROM audit_names WHERE value = ?) /* {column} */");
    let insert = format!(
        "INSERT INTO audit_events (workspace_id, seq, id, time, kind, outcome, detail, \
         prev_hash, hash) VALUES ({}, ?, ?, ?, {}, {}, ?, unhex(?), unhex(?))",
        name("workspace"),
        name("kind"),
        name("outcome"),
    );
    let binds = [
        json!(ws),
        json!(seq(head) + 1),
        json!(forged.id),
        json!(time.timestamp_millis()),
        json!("audit.checkpoint"),
        json!("OK"),
        json!(forged.detail),
        json!(prev_hash),
        json!(hash),
    ];
    assert_eq!(run(&mut db, &insert, &binds).await, 1);
    let sql = "UPDATE audit_heads SET seq = ?, hash = ? WHERE workspace_id = ?";
    assert_eq!(
        run(
            &mut db,
            sql,
            &[json!(seq(head) + 1), json!(hash), json!(ws)]
        )
        .await,
        1
    );
    let sql =
        "UPDATE keys SET revoked_at = NULL, revoked_reason = NULL WHERE revoked_at IS NOT NULL";
    assert_eq!(run(&mut db, sql, &[]).await, 1);
    close_and_start(&mut app, db).await;

    let api = app.api();
    let check = chain(&api).await;
    assert_eq!(
        check["valid"],
        json!(true),
        "undetectable without the anchor: {check}"
    );
    assert_eq!(check["checkpoint_seq"], json!(seq(revoked)), "{check}");
    let check = chain_from(&api, &signed).await;
    assert_broken_at(&check, seq(&signed), "retention never deletes");
}

/// A root key reported leaked is revoked by its `key.leaked` event (subject the root key,
/// detail "root key …"): the state replay counts that as the root key's revocation, so the
/// chain of a normal leak report verifies, and making that root key live again is found.
#[tokio::test]
async fn a_leaked_root_key_is_replayed_as_revoked() {
    let mut app = spawn_process_app();
    let api = app.api();
    let created = api
        .create_root_key("Deploy Pipeline Root Key", &["keys:read"])
        .await
        .expect(201)
        .clone();
    let root_id = created["id"].as_str().expect("an id").to_owned();
    let root = created["key"].as_str().expect("the root key").to_owned();
    crate::helpers::remember_secret(&root);
    app.anonymous()
        .post(
            "/v1/leaks",
            &json!({"keys": [root], "source": "deploy share sweep"}),
        )
        .await
        .expect(202);
    app.as_root(&root).list_keys("").await.expect(401);
    let leaked = api
        .get("/v1/audit?kind=key.leaked")
        .await
        .expect(200)
        .clone();
    assert_eq!(leaked["events"][0]["key_id"], json!(root_id), "{leaked}");
    let check = chain(&api).await;
    assert_eq!(check["valid"], json!(true), "{check}");

    let mut db = stop_and_open(&mut app).await;
    let sql = "UPDATE root_keys SET revoked_at = NULL WHERE id = ?";
    assert_eq!(run(&mut db, sql, &[json!(root_id)]).await, 1);
    close_and_start(&mut app, db).await;

    let check = chain(&app.api()).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert!(check.get("first_bad_seq").is_none(), "{check}");
    let unexplained = check["unexplained"].as_array().expect("unexplained");
    assert_eq!(unexplained.len(), 1, "{check}");
    assert_eq!(unexplained[0]["id"], json!(root_id), "{check}");
    let reason = unexplained[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("revoked it, but storage holds it unrevoked"),
        "{reason}"
    );
}

/// A root key's name never changes, and its `root_key.created` event records it (and, for a
/// root key made by operator recovery, its rights): renaming a root key in the table, or
/// widening a recovered root key's rights, is found by the state replay.
#[tokio::test]
async fn renaming_a_root_key_or_widening_recovered_rights_is_found() {
    let mut app = spawn_process_app();
    let api = app.api();
    let deploy = api
        .create_root_key("Deploy Pipeline Root Key", &["keys:read"])
        .await
        .expect(201)
        .clone();
    let deploy_id = deploy["id"].as_str().expect("an id").to_owned();
    crate::helpers::remember_secret(deploy["key"].as_str().expect("the root key"));
    let dir = tempfile::tempdir().unwrap();
    let recovered_file = dir.path().join("recovered");
    let out = keyward()
        .args(["root-key", "create", "--database-url"])
        .arg(format!("sqlite://{}", app.db_path.display()))
        .args([
            "--workspace",
            crate::helpers::PREFIX,
            "--right",
            "keys:read",
        ])
        .args(["--right", "audit:read", "--output"])
        .arg(&recovered_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    crate::helpers::remember_secret(std::fs::read_to_string(&recovered_file).unwrap().trim_end());
    let roots = api.get("/v1/root-keys").await.expect(200).clone();
    let id_of = |wanted: &dyn Fn(&Value) -> bool| {
        roots
            .as_array()
            .expect("root keys")
            .iter()
            .find(|r| wanted(r))
            .and_then(|r| r["id"].as_str())
            .expect("the root key")
            .to_owned()
    };
    let first_id = id_of(&|r| r["id"] != json!(deploy_id) && r["permissions"] == json!(["*"]));
    let recovered_id = id_of(&|r| r["permissions"].as_array().is_some_and(|p| p.len() == 2));
    let check = chain(&api).await;
    assert_eq!(check["valid"], json!(true), "{check}");

    let mut db = stop_and_open(&mut app).await;
    let rename = "UPDATE root_keys SET name = 'Backup Root Key' WHERE id = ?";
    assert_eq!(run(&mut db, rename, &[json!(deploy_id)]).await, 1);
    assert_eq!(run(&mut db, rename, &[json!(first_id)]).await, 1);
    let widen = "UPDATE root_keys SET permissions = '[\"*\"]' WHERE id = ?";
    assert_eq!(run(&mut db, widen, &[json!(recovered_id)]).await, 1);
    close_and_start(&mut app, db).await;

    let check = chain(&app.api()).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert!(check.get("first_bad_seq").is_none(), "{check}");
    let mut found: Vec<&str> = check["unexplained"]
        .as_array()
        .expect("unexplained")
        .iter()
        .map(|u| u["id"].as_str().unwrap_or_default())
        .collect();
    found.sort_unstable();
    let mut wanted = vec![deploy_id.as_str(), first_id.as_str(), recovered_id.as_str()];
    wanted.sort_unstable();
    assert_eq!(found, wanted, "{check}");
    assert!(
        check["unexplained"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("root_key.created event recorded"),
        "{check}"
    );
}

/// `POST /v1/audit/anchor` on a head already signed answers the anchor the log already holds
/// and does not append it again: a caller cannot grow the file by asking repeatedly, and every
/// anchor answered is one the log keeps.
#[tokio::test]
async fn anchoring_an_unmoved_head_does_not_grow_the_anchor_log() {
    let app = spawn_process_app();
    let api = app.api();
    api.new_key("Stripe Invoice Sending Integration", &["invoices:read"])
        .await;
    let log = app.db_path.with_extension("db.audit-anchors");
    let lines = || {
        std::fs::read_to_string(&log)
            .expect("the anchor log")
            .lines()
            .count()
    };
    let logged = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .expect("the anchor log")
            .lines()
            .map(|line| serde_json::from_str(line).expect("an anchor line"))
            .collect()
    };
    let first = anchor(&api).await;
    let before = lines();
    for _ in 0..5 {
        let again = anchor(&api).await;
        assert_eq!(again["seq"], first["seq"], "{again}");
        assert_eq!(again["hash"], first["hash"], "{again}");
        assert!(
            logged().contains(&again),
            "an anchor answered for an unmoved head is not the one in the log: {again}"
        );
        assert_eq!(chain_from(&api, &again).await["valid"], json!(true));
    }
    assert_eq!(lines(), before, "the log grew for an unmoved head");
    api.new_key("Xero Payroll Sync", &["payroll:write"]).await;
    let moved = anchor(&api).await;
    assert_ne!(moved["seq"], first["seq"], "{moved}");
    assert_eq!(lines(), before + 1, "a moved head is logged");
}

/// The outside reviewer's reproduction: after an anchor, a kept event it covers (the
/// `key.revoked`) is edited to name a made-up key and given its own recomputed hash; the
/// verification after it is deleted (so the number of kept events stays the one signed) and
/// a correctly hashed `audit.checkpoint` claims retention cut there, hiding the broken link;
/// the key is made live again. Each event before the cut is checked only on its own, so only
/// the anchor's `kept_digest` (a running digest of the kept events' hashes) shows the edit,
/// to the server, to `keyward audit verify --anchor` and to `docs/verify_audit_export.py`.
/// An anchor signed without the digest (an older version's) is still checked, as before,
/// and the answer says that it binds the number of kept events only.
#[tokio::test]
async fn editing_a_kept_event_behind_a_forged_cut_is_caught_by_an_anchor() {
    let mut app = spawn_process_app();
    history(&app).await;
    let api = app.api();
    let stripe = api.new_key("Stripe Refunds", &["refunds:write"]).await;
    for _ in 0..2 {
        api.verify(&stripe.key, None).await.expect(200);
    }
    let all = events(&api).await;
    let signed = anchor(&api).await;
    assert!(signed["kept_digest"].is_string(), "{signed}");
    let head = all.last().expect("events");
    assert_eq!(signed["seq"], json!(seq(head)), "{signed}");
    let revoked = all
        .iter()
        .find(|e| e["kind"] == "key.revoked")
        .expect("key.revoked");
    let r = seq(revoked);
    let next = &all[usize::try_from(r).unwrap()];
    assert_eq!(seq(next), r + 1);
    assert_eq!(next["kind"], "key.verified", "{next}");
    let ws = app.workspaces[0].id.clone();

    // The revocation now names a key that does not exist, with its own hash recomputed.
    let mut edited: NewEvent = serde_json::from_value(revoked.clone()).expect("an event");
    edited.key_id = Some("key_0000000000000000000000000".into());
    let edited_hash = AuditEvent::hash_of(&edited, r, revoked["prev_hash"].as_str().unwrap());
    // The cut: at the deleted verification, every event before it kept.
    let cut = keyward_core::Checkpoint {
        seq: r + 1,
        hash: next["hash"].as_str().unwrap().to_owned(),
        retained: u64::try_from(r).unwrap(),
    };
    let time = chrono::DateTime::parse_from_rfc3339(head["time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let forged = cut.event(&ws, time);
    let prev_hash = head["hash"].as_str().unwrap();
    let forged_hash = AuditEvent::hash_of(&forged, seq(head) + 1, prev_hash);

    let mut db = stop_and_open(&mut app).await;
    for value in [edited.key_id.as_deref().unwrap(), "audit.checkpoint"] {
        run(
            &mut db,
            "INSERT OR IGNORE INTO audit_names (value) VALUES (?)",
            &[json!(value)],
        )
        .await;
    }
    let sql = format!(
        "UPDATE audit_events SET key_id = (SELECT id FROM audit_names WHERE value = ?), \
         hash = unhex(?) WHERE workspace_id = {WS} AND seq = ?"
    );
    let binds = [
        json!(edited.key_id),
        json!(edited_hash),
        json!(ws),
        json!(r),
    ];
    assert_eq!(run(&mut db, &sql, &binds).await, 1);
    let sql = format!("DELETE FROM audit_events WHERE workspace_id = {WS} AND seq = ?");
    assert_eq!(run(&mut db, &sql, &[json!(ws), json!(r + 1)]).await, 1);
    let name = "(SELECT id FROM audit_names WHERE value = ?)";
    let insert = format!(
        "INSERT INTO audit_events (workspace_id, seq, id, time, kind, outcome, detail, \
         prev_hash, hash) VALUES ({name}, ?, ?, ?, {name}, {name}, ?, unhex(?), unhex(?))"
    );
    let binds = [
        json!(ws),
        json!(seq(head) + 1),
        json!(forged.id),
        json!(time.timestamp_millis()),
        json!("audit.checkpoint"),
        json!("OK"),
        json!(forged.detail),
        json!(prev_hash),
        json!(forged_hash),
    ];
    assert_eq!(run(&mut db, &insert, &binds).await, 1);
    let sql = "UPDATE audit_heads SET seq = ?, hash = ? WHERE workspace_id = ?";
    let binds = [json!(seq(head) + 1), json!(forged_hash), json!(ws)];
    assert_eq!(run(&mut db, sql, &binds).await, 1);
    let sql =
        "UPDATE keys SET revoked_at = NULL, revoked_reason = NULL WHERE revoked_at IS NOT NULL";
    assert_eq!(run(&mut db, sql, &[]).await, 1);
    close_and_start(&mut app, db).await;

    let api = app.api();
    let check = chain(&api).await;
    assert_eq!(
        check["valid"],
        json!(true),
        "undetectable without the anchor: {check}"
    );
    assert_eq!(check["checkpoint_seq"], json!(r + 1), "{check}");
    let check = chain_from(&api, &signed).await;
    assert_broken_at(&check, seq(&signed), "one was edited");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchor.json");
    std::fs::write(&file, format!("{signed}\n")).unwrap();
    let out = cli_verify(&app, &["--anchor", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    let export = api.get("/v1/audit/export").await.text;
    let export_file = dir.path().join("audit.ndjson");
    std::fs::write(&export_file, export).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/verify_audit_export.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&export_file)
        .arg("--anchor")
        .arg(&file)
        .output()
        .expect("python3 runs docs/verify_audit_export.py");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("one was edited"),
        "{}",
        describe(&out)
    );

    // An anchor of the same head without the digest, as an older version signed it: checked
    // by the count alone, which the forged cut satisfies, and the answer says so.
    let key_file = app.db_path.with_extension("db.anchor-key");
    let key = keyward_core::anchor::AnchorSigningKey::from_hex(
        &std::fs::read_to_string(key_file).unwrap(),
    )
    .unwrap();
    let point = keyward_core::AnchorPoint {
        seq: seq(&signed),
        hash: signed["hash"].as_str().unwrap().to_owned(),
        kept: signed["kept"].as_u64().unwrap(),
        kept_digest: None,
    };
    let old = serde_json::to_value(key.sign(&ws, &point, chrono::Utc::now())).unwrap();
    assert!(old.get("kept_digest").is_none(), "{old}");
    let check = chain_from(&api, &old).await;
    assert_eq!(check["valid"], json!(true), "{check}");
    assert!(
        check["anchor_note"]
            .as_str()
            .unwrap_or_default()
            .contains("number only"),
        "{check}"
    );
}
