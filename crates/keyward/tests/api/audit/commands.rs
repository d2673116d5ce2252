//! The `keyward audit` commands against a running server: query, export and check the trail
//! (the real binary, since the CLI is the point).

use crate::audit::support::{
    assert_intact, cli, events, exit_code, ndjson, page, stdout, verify, IP, STRIPE, XERO,
};
use crate::helpers::{describe, spawn_app};
use serde_json::Value;

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
