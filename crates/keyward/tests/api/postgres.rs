//! `keyward` on PostgreSQL, end to end: the real binary with `--database-url postgres://…`
//! on a scratch database (`keyward_postgres::scratch`), and `keyward migrate-db` from a SQLite
//! file to PostgreSQL; run when `KEYWARD_TEST_POSTGRES_URL` names a server
//! (`skip::service_url`).

use crate::helpers::*;
use keyward_postgres::scratch::ScratchDatabase;
use serde_json::Value;

const SERVER_VAR: &str = "KEYWARD_TEST_POSTGRES_URL";
const HOW: &str =
    "set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL tests";

/// A scratch database on the test server, or `None` when the test is skipped.
pub async fn scratch_database(test: &str) -> Option<ScratchDatabase> {
    let server = crate::skip::service_url(SERVER_VAR, test, HOW)?;
    Some(
        ScratchDatabase::create(&server)
            .await
            .expect("creating a scratch database"),
    )
}

/// How many `key.verified` events the audit trail holds.
async fn verifications(api: &Api<'_>) -> usize {
    let page = api.get("/v1/audit?kind=key.verified&limit=100").await;
    page.expect(200)["events"].as_array().map_or(0, Vec::len)
}

/// `keyward init` and `keyward serve` on PostgreSQL: a key created and verified, the server
/// SIGKILLed and started again: the key still verifies, the verification acknowledged before
/// the kill is in the audit trail (events are committed into the database before the answer,
/// nothing waits on the node's disk), and the chain verifies.
#[tokio::test]
async fn a_server_on_postgres_keeps_keys_and_acknowledged_events_across_a_kill() {
    let Some(db) =
        scratch_database("postgres::a_server_on_postgres_keeps_keys_and_acknowledged_events").await
    else {
        return;
    };
    let mut app = spawn_process_app_at(db.url());
    let key = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &["invoices:receive"])
        .await;
    assert_eq!(
        app.api()
            .verify_code(&key.key, Some("invoices:receive"))
            .await,
        "VALID"
    );
    assert_eq!(verifications(&app.api()).await, 1);

    app.kill();
    app.restart();

    assert_eq!(
        verifications(&app.api()).await,
        1,
        "the acknowledged verification survived SIGKILL"
    );
    assert_eq!(
        app.api()
            .verify_code(&key.key, Some("invoices:receive"))
            .await,
        "VALID"
    );
    assert_eq!(
        app.api().verify_code(&key.key, Some("payroll:read")).await,
        "INSUFFICIENT_PERMISSIONS"
    );
    let revoked = app.api().revoke_key(&key.id, Some("test")).await;
    revoked.expect(200);
    assert_eq!(app.api().verify_code(&key.key, None).await, "REVOKED");

    let chain: Value = app.api().get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(chain["valid"], true, "{chain}");
    // Every event of the trail is in the chain: four verifications among them.
    let all = app
        .api()
        .get("/v1/audit?limit=100")
        .await
        .expect(200)
        .clone();
    let listed = all["events"].as_array().map_or(0, Vec::len);
    assert_eq!(chain["events"], listed, "{chain}");
    assert_eq!(verifications(&app.api()).await, 4);
    let log = app.log_text();
    assert!(
        !log.contains("audit journal"),
        "no journal on PostgreSQL:\n{log}"
    );
}

/// A SQLite server's database, with keys (one credited and partly spent, one revoked), a
/// second root key and verifications, copied by `keyward migrate-db` to PostgreSQL while
/// stopped: a server on the copy verifies the old keys as before, with the same balance,
/// accepts the old root key, and its audit chain verifies with every event of the original.
#[tokio::test]
async fn migrate_db_moves_a_sqlite_database_to_postgres_with_its_chain_intact() {
    let Some(db) =
        scratch_database("postgres::migrate_db_moves_a_sqlite_database_to_postgres").await
    else {
        return;
    };
    let mut sqlite = spawn_process_app();
    let metered = NewKey::from(
        &sqlite
            .api()
            .create_key_ok(&serde_json::json!({
                "name": "Metered Invoice Export",
                "permissions": ["invoices:read"],
                "credits": {"remaining": 5},
            }))
            .await,
    );
    let leaked = sqlite
        .api()
        .new_key("Leaked Payroll Integration", &[])
        .await;
    sqlite
        .api()
        .revoke_key(&leaked.id, Some("leaked"))
        .await
        .expect(200);
    for _ in 0..2 {
        assert_eq!(sqlite.api().verify_code(&metered.key, None).await, "VALID");
    }
    assert_eq!(sqlite.api().verify_code(&leaked.key, None).await, "REVOKED");
    sqlite
        .api()
        .create_root_key("Read Only Dashboard", &["keys:read"])
        .await
        .expect(201);
    let original: Value = sqlite
        .api()
        .get("/v1/audit/verify")
        .await
        .expect(200)
        .clone();
    assert_eq!(original["valid"], true, "{original}");
    assert!(sqlite.terminate(), "the SQLite server stopped cleanly");

    let from = format!("sqlite://{}", sqlite.db_path.display());
    let out = keyward()
        .args(["migrate-db", "--from", &from, "--to", db.url()])
        .output()
        .expect("running keyward migrate-db");
    assert!(
        out.status.success(),
        "migrate-db failed: {}",
        describe(&out)
    );
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("events copied"), "{progress}");
    assert!(progress.contains("2 root keys, 2 keys"), "{progress}");
    assert_no_secret_in("migrate-db's output", &progress);

    // Into a database that holds data: refused, and nothing is changed.
    let again = keyward()
        .args(["migrate-db", "--from", &from, "--to", db.url()])
        .output()
        .expect("running keyward migrate-db");
    assert!(!again.status.success(), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds data"),
        "{}",
        describe(&again)
    );

    let postgres = serve_process_app_at(db.url(), sqlite.workspaces.clone());
    let copied: Value = postgres
        .api()
        .get("/v1/audit/verify")
        .await
        .expect(200)
        .clone();
    assert_eq!(
        copied, original,
        "the copied chain verifies, every event there"
    );
    let answer = postgres.api().verify(&metered.key, None).await;
    let body = answer.expect(200);
    assert_eq!(body["code"], "VALID", "{body}");
    assert_eq!(
        body["credits"], 2,
        "the balance as the SQLite server left it: {body}"
    );
    assert_eq!(
        postgres.api().verify_code(&leaked.key, None).await,
        "REVOKED"
    );
    let after: Value = postgres
        .api()
        .get("/v1/audit/verify")
        .await
        .expect(200)
        .clone();
    assert_eq!(after["valid"], true, "{after}");
    assert_eq!(
        after["events"].as_u64(),
        original["events"].as_u64().map(|n| n + 2),
        "the chain continues with the two verifications since: {after}"
    );
}
