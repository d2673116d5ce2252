//! `keyward` on PostgreSQL, end to end: the real binary with `--database-url postgres://…`
//! on a scratch database (`keyward_postgres::scratch`), run when `KEYWARD_TEST_POSTGRES_URL`
//! names a server (`skip::service_url`).

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
