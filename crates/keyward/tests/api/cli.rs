//! The `keyward keys …` and `keyward verify` client commands against a real server: `--json`
//! for scripts, tables for people, exit statuses (0 done/valid, 1 not valid, 2 error) and
//! clear errors that never show the root key.

use crate::helpers::{
    assert_key_format, describe, keyward, spawn_app, unissued_key, TestApp, PREFIX,
};
use serde_json::Value;
use std::io::Write;
use std::process::{Output, Stdio};

/// Runs `keyward <args>` against `url` with `root_key` (set on the child only).
fn run(url: &str, root_key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = keyward();
    cmd.env("KEYWARD_URL", url).args(args);
    if let Some(root_key) = root_key {
        cmd.env("KEYWARD_ROOT_KEY", root_key);
    }
    cmd.output().expect("running the keyward CLI")
}

fn cli(app: &TestApp, args: &[&str]) -> Output {
    let out = run(&app.address, Some(app.root_key()), args);
    assert_no_root_key(&out, app.root_key());
    out
}

#[track_caller]
fn assert_no_root_key(out: &Output, root_key: &str) {
    let secret = crate::helpers::secret_part(root_key).as_bytes();
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !crate::helpers::contains_bytes(bytes, secret),
            "the root key is on {stream}: {}",
            describe(out)
        );
    }
}

#[track_caller]
fn exit_code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {}", describe(out)))
}

/// Asserts the exit status and parses stdout as JSON.
#[track_caller]
fn json_output(out: &Output, code: i32) -> Value {
    assert_eq!(exit_code(out), code, "exit status: {}", describe(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", describe(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn keys_and_verify_commands_drive_the_whole_lifecycle() {
    let app = spawn_app();
    let name = "Stripe Invoice Sending Integration";

    let created = cli(
        &app,
        &[
            "keys",
            "create",
            "--name",
            name,
            "--permission",
            "invoices:receive",
            "--json",
        ],
    );
    let created = json_output(&created, 0);
    let key = created["key"]
        .as_str()
        .expect("create --json prints the key")
        .to_owned();
    let id = created["id"].as_str().expect("and its id").to_owned();
    assert_key_format(&key, PREFIX);
    assert_eq!(created["name"], name);
    assert_eq!(
        created["permissions"],
        serde_json::json!(["invoices:receive"])
    );
    // The server agrees.
    assert_eq!(app.api().show_key(&id).await.expect(200)["name"], name);

    let listed = json_output(&cli(&app, &["keys", "list", "--json"]), 0);
    let keys = listed["keys"]
        .as_array()
        .expect("list --json prints the key list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert!(
        keys[0].get("key").is_none(),
        "list never shows the plaintext"
    );

    let shown_out = cli(&app, &["keys", "show", &id, "--json"]);
    let shown = json_output(&shown_out, 0);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["name"], name);
    assert!(shown.get("key").is_none(), "show never shows the plaintext");
    assert!(!String::from_utf8_lossy(&shown_out.stdout).contains(&key));

    let valid = json_output(
        &cli(
            &app,
            &["verify", &key, "--permission", "invoices:receive", "--json"],
        ),
        0,
    );
    assert_eq!(valid["valid"], Value::Bool(true));
    assert_eq!(valid["code"], "VALID");
    let lacking = json_output(
        &cli(
            &app,
            &["verify", &key, "--permission", "payroll:read", "--json"],
        ),
        1,
    );
    assert_eq!(lacking["valid"], Value::Bool(false));
    assert_eq!(lacking["code"], "INSUFFICIENT_PERMISSIONS");
    let expression = "invoices:receive AND (payroll:read OR invoices:*)";
    json_output(
        &cli(
            &app,
            &["verify", &key, "--permission", expression, "--json"],
        ),
        1,
    );
    let human = cli(&app, &["verify", &key, "--permission", "invoices:receive"]);
    assert_eq!(exit_code(&human), 0, "{}", describe(&human));
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("VALID"),
        "{}",
        describe(&human)
    );

    // Rotate: a new key with the same name; the old one stops at once.
    let rotated = json_output(&cli(&app, &["keys", "rotate", &id, "--json"]), 0);
    let new_key = rotated["key"]
        .as_str()
        .expect("rotate --json prints the new key")
        .to_owned();
    let new_id = rotated["id"].as_str().expect("and its id").to_owned();
    assert_key_format(&new_key, PREFIX);
    assert_ne!(new_key, key);
    assert_eq!(rotated["name"], name);
    let old = json_output(&cli(&app, &["verify", &key, "--json"]), 1);
    assert_eq!(old["code"], "REVOKED");
    json_output(
        &cli(
            &app,
            &[
                "verify",
                &new_key,
                "--permission",
                "invoices:receive",
                "--json",
            ],
        ),
        0,
    );

    // Revoke with a reason.
    let revoked = json_output(
        &cli(
            &app,
            &["keys", "revoke", &new_id, "--reason", "leaked", "--json"],
        ),
        0,
    );
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_reason"], "leaked");
    assert!(revoked.get("key").is_none());
    let refused = json_output(&cli(&app, &["verify", &new_key, "--json"]), 1);
    assert_eq!(refused["code"], "REVOKED");
    assert_eq!(
        app.api().verify_code(&new_key, None).await,
        "REVOKED",
        "the server agrees"
    );
    let human = cli(&app, &["verify", &new_key]);
    assert_eq!(exit_code(&human), 1, "{}", describe(&human));
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("REVOKED"),
        "{}",
        describe(&human)
    );
}

#[tokio::test]
async fn keys_list_prints_an_aligned_table_for_people() {
    let app = spawn_app();
    let api = app.api();
    let names = [
        "Stripe Invoice Sending Integration",
        "CRM",
        "Payroll CSV Export to the Sage Accounting System",
    ];
    let mut ids = Vec::new();
    let mut secrets = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let owner = if i == 1 {
            serde_json::json!("cust_1")
        } else {
            Value::Null
        };
        let key = api.create_key_ok(&serde_json::json!({"name": name, "owner_id": owner, "permissions": ["invoices:read"]})).await;
        ids.push(key["id"].as_str().unwrap().to_owned());
        secrets.push(crate::helpers::secret_part(key["key"].as_str().unwrap()).to_owned());
    }
    let out = cli(&app, &["keys", "list"]);
    assert_eq!(exit_code(&out), 0, "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "people get a table, not JSON:\n{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1 + names.len(),
        "a header and one row per key:\n{text}"
    );
    let header = lines[0];
    let name_column = header
        .find("NAME")
        .unwrap_or_else(|| panic!("no NAME column:\n{text}"));
    let status_column = header
        .find("STATUS")
        .unwrap_or_else(|| panic!("no STATUS column:\n{text}"));
    for (name, id) in names.iter().zip(&ids) {
        let row = lines
            .iter()
            .find(|l| l.contains(id.as_str()))
            .unwrap_or_else(|| panic!("no row for {id}:\n{text}"));
        assert_eq!(
            row.find(name),
            Some(name_column),
            "the name column is aligned:\n{text}"
        );
        assert_eq!(
            row.find("active"),
            Some(status_column),
            "the status column is aligned:\n{text}"
        );
        assert!(
            row.starts_with(id.as_str()),
            "ids line up at the left:\n{text}"
        );
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the table shows a key:\n{text}"
        );
    }

    let shown = cli(&app, &["keys", "show", &ids[0]]);
    assert_eq!(exit_code(&shown), 0, "{}", describe(&shown));
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(names[0]),
        "{}",
        describe(&shown)
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_root_key() {
    let root_key = unissued_key("kw_root");
    for args in [
        vec!["keys", "list"],
        vec!["keys", "list", "--json"],
        vec![
            "keys",
            "create",
            "--name",
            "Stripe Invoice Sending Integration",
        ],
        vec!["verify", "bos_ThisBodyWasNeverIssuedByAServer42000000"],
        vec![
            "verify",
            "bos_ThisBodyWasNeverIssuedByAServer42000000",
            "--json",
        ],
    ] {
        let out = run("http://127.0.0.1:1", Some(&root_key), &args);
        assert_eq!(
            exit_code(&out),
            2,
            "{args:?}: an error is exit 2, never 1 (not valid): {}",
            describe(&out)
        );
        let message = stderr(&out);
        assert!(
            message.contains("127.0.0.1:1"),
            "{args:?}: the error names the server: {message}"
        );
        assert!(
            message.to_lowercase().contains("reach"),
            "{args:?}: the error says it cannot reach it: {message}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing on stdout: {}",
            describe(&out)
        );
        assert_no_root_key(&out, &root_key);
        assert!(!message.contains(&root_key), "{message}");
    }
}

#[tokio::test]
async fn a_refused_or_missing_root_key_is_a_clear_error() {
    let app = spawn_app();
    let key = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &["invoices:receive"])
        .await;
    let wrong = unissued_key("kw_root");
    for args in [
        vec!["keys", "list"],
        vec!["keys", "show", key.id.as_str()],
        vec!["verify", key.key.as_str(), "--json"],
    ] {
        let out = run(&app.address, Some(&wrong), &args);
        assert_eq!(exit_code(&out), 2, "{args:?}: {}", describe(&out));
        let message = stderr(&out);
        assert!(
            message.contains("401"),
            "{args:?}: the error mentions 401: {message}"
        );
        assert_no_root_key(&out, &wrong);
        assert_no_root_key(&out, app.root_key());
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("VALID"),
            "{}",
            describe(&out)
        );
    }
    // A customer key is not a root key.
    let out = run(&app.address, Some(&key.key), &["keys", "list"]);
    assert_eq!(exit_code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("401"), "{}", describe(&out));

    let out = run(&app.address, None, &["keys", "list"]);
    assert_eq!(exit_code(&out), 2, "{}", describe(&out));
    assert!(
        stderr(&out).contains("KEYWARD_ROOT_KEY"),
        "says what to set: {}",
        describe(&out)
    );
}

#[tokio::test]
async fn server_side_refusals_exit_2_with_the_servers_explanation() {
    let app = spawn_app();
    let generic = cli(&app, &["keys", "create", "--name", "API", "--json"]);
    assert_eq!(exit_code(&generic), 2, "{}", describe(&generic));
    assert!(
        stderr(&generic).contains("Stripe Invoice Sending Integration"),
        "the hint reaches the user: {}",
        describe(&generic)
    );

    let bad_permission = cli(
        &app,
        &[
            "keys",
            "create",
            "--name",
            "Payroll CSV Export",
            "--permission",
            "Payroll:Read",
        ],
    );
    assert_eq!(
        exit_code(&bad_permission),
        2,
        "{}",
        describe(&bad_permission)
    );
    assert!(
        stderr(&bad_permission).contains("400"),
        "{}",
        describe(&bad_permission)
    );

    cli(&app, &["keys", "create", "--name", "Payroll CSV Export"]);
    let clash = cli(&app, &["keys", "create", "--name", "payroll csv export"]);
    assert_eq!(exit_code(&clash), 2, "{}", describe(&clash));
    assert!(stderr(&clash).contains("409"), "{}", describe(&clash));

    let missing = cli(
        &app,
        &["keys", "show", "key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21"],
    );
    assert_eq!(exit_code(&missing), 2, "{}", describe(&missing));
    assert!(stderr(&missing).contains("404"), "{}", describe(&missing));

    let key = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &["invoices:receive"])
        .await;
    let expression = cli(
        &app,
        &[
            "verify",
            &key.key,
            "--permission",
            "invoices:receive AND AND x:y",
        ],
    );
    assert_eq!(
        exit_code(&expression),
        2,
        "a malformed expression is an error, not 'not valid': {}",
        describe(&expression)
    );
    assert!(
        stderr(&expression).contains("at character"),
        "{}",
        describe(&expression)
    );
    assert_eq!(
        app.api().list_all_ids("").await.len(),
        2,
        "only the good creates happened"
    );
}

#[tokio::test]
async fn verify_reads_the_key_from_stdin() {
    let app = spawn_app();
    let key = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &["invoices:receive"])
        .await;
    let mut child = keyward()
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_ROOT_KEY", app.root_key())
        .args(["verify", "-", "--permission", "invoices:receive", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning keyward verify");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", key.key).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answer = json_output(&out, 0);
    assert_eq!(answer["code"], "VALID");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&key.key),
        "verify does not echo the key"
    );
}
