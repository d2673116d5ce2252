//! Direct edits of a stopped server's database file that the hash chain finds: an edited row
//! at exactly its seq, the newest event deleted, an event in the middle deleted.

use crate::audit::support::{
    assert_intact, chain, cli, events, exit_code, stdout, text, verify, STRIPE, XERO,
};
use crate::helpers::{describe, spawn_process_app, TestApp};
use serde_json::{json, Value};

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

#[tokio::test]
async fn an_edited_row_is_found_at_exactly_its_seq() {
    let mut app = spawn_process_app();
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
    let mut app = spawn_process_app();
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
    let mut app = spawn_process_app();
    let all = some_history(&app).await;
    let middle = all[all.len() / 2]["seq"].as_i64().expect("a seq");
    tamper(&mut app, DELETE_EVENT, middle).await;
    let check = chain(&app.api()).await;
    assert_eq!(check["valid"], json!(false), "{check}");
    assert_eq!(check["first_bad_seq"], json!(middle), "{check}");
}
