//! Leak reports beyond customer keys: a reported root key is revoked at once; the answer to a
//! report says nothing about what it held, in its body or its timing; and `keyward scan
//! --report` says exactly which keys were reported when the server refuses a report midway.

use crate::helpers::{checksum, describe, keyward, spawn_app, unissued_key, TestApp, PREFIX};
use keyward_server::handlers::leaks::ANSWER_AFTER;
use serde_json::{json, Value};
use std::time::Instant;

/// A key in the published format that no server issued, distinct per `i`.
fn unissued(prefix: &str, i: usize) -> String {
    let signed = format!("{prefix}_UnissuedLeakReportKey{i:011}");
    let sum = checksum(&signed);
    format!("{signed}{sum}")
}

async fn root_key(app: &TestApp, name: &str, rights: &[&str]) -> (String, String) {
    let created = app
        .api()
        .create_root_key(name, rights)
        .await
        .expect(201)
        .clone();
    let field = |f: &str| created[f].as_str().unwrap().to_owned();
    (field("id"), field("key"))
}

#[tokio::test]
async fn a_root_key_found_by_scan_report_is_revoked_at_once_with_a_leaked_event() {
    let app = spawn_app();
    let dir = tempfile::tempdir().unwrap();
    let (loaded_id, loaded) = root_key(&app, "Deploy Pipeline Root Key", &["keys:write"]).await;
    app.as_root(&loaded).list_keys("").await.expect(403);
    // A root key made by another process, which this server has not loaded yet.
    let recovered_file = dir.path().join("recovered");
    let out = keyward()
        .args(["root-key", "create", "--database-url"])
        .arg(format!("sqlite://{}", app.db_path.display()))
        .args(["--workspace", PREFIX, "--right", "keys:read", "--output"])
        .arg(&recovered_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let recovered = std::fs::read_to_string(&recovered_file)
        .unwrap()
        .trim_end()
        .to_owned();
    crate::helpers::remember_secret(&recovered);

    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(
        share.join("deploy.env"),
        format!(
            "KEYWARD_ROOT_KEY={loaded}\nBACKUP_ROOT_KEY={recovered}\nOLD_ROOT_KEY={}\n",
            unissued_key("kw_root")
        ),
    )
    .unwrap();
    let out = keyward()
        .arg("scan")
        .arg(&share)
        .args(["--report", "--source", "deploy share sweep"])
        .env("KEYWARD_URL", &app.address)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("reported to"), "{said}");

    // Refused from the moment the report was answered.
    app.as_root(&loaded).list_keys("").await.expect(401);
    app.as_root(&recovered).list_keys("").await.expect(401);
    app.api().list_keys("").await.expect(200);
    let roots = app.api().get("/v1/root-keys").await.expect(200).clone();
    let revoked: Vec<&str> = roots
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["revoked_at"].is_string())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(revoked.len(), 2, "{roots}");

    let audit = app
        .api()
        .get("/v1/audit?kind=key.leaked")
        .await
        .expect(200)
        .clone();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    assert!(
        events.iter().any(|e| e["key_id"] == loaded_id.as_str()),
        "{audit}"
    );
    for event in events {
        let detail = event["detail"].as_str().unwrap();
        assert!(detail.starts_with("root key found at"), "{detail}");
        assert!(detail.contains("deploy.env") && detail.contains("deploy share sweep"));
        assert_eq!(event["ip"], "127.0.0.1");
    }
    let text = audit.to_string();
    assert!(!text.contains(&loaded) && !text.contains(&recovered));
}

#[tokio::test]
async fn the_answer_to_a_report_is_the_same_in_body_and_time_whatever_it_held() {
    let app = spawn_app();
    let valid = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &[])
        .await;
    let (_, root) = root_key(&app, "Reporting Root Key", &["keys:read"]).await;
    let reports = [
        json!({"keys": [valid.key], "source": "s"}),
        json!({"keys": [root], "source": "s"}),
        // Now already revoked: only an event is added.
        json!({"keys": [valid.key], "source": "s"}),
        json!({"keys": [unissued_key(PREFIX)], "source": "s"}),
        json!({"keys": [unissued_key("kw_root")], "source": "s"}),
        json!({"keys": ["not a key at all"], "source": "s"}),
    ];
    let mut answers = Vec::new();
    for report in &reports {
        let started = Instant::now();
        let answer = app.anonymous().post("/v1/leaks", report).await;
        let took = started.elapsed();
        assert_eq!(answer.status.as_u16(), 202, "{}", answer.text);
        // Every answer waits for the same moment, whatever the report held (the handler's
        // unit test shows, on a paused clock, that work and no work end at that same instant).
        assert!(took >= ANSWER_AFTER, "answered after {took:?}: {report}");
        let mut headers: Vec<(String, String)> = answer
            .headers
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        answers.push((answer.text.clone(), headers));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    assert_eq!(
        app.api().verify_code(&valid.key, None).await,
        "REVOKED",
        "the valid key was revoked before the answer"
    );
    app.as_root(&root).list_keys("").await.expect(401);
}

#[tokio::test]
async fn a_report_refused_midway_says_exactly_which_keys_were_reported() {
    let app = spawn_app();
    let early = app.api().new_key("Payroll Export Integration", &[]).await;
    let late = app.api().new_key("Xero Sync From Office", &[]).await;
    // 120 keys: reports of 50, 50 and 20. The real keys are in the first and the last.
    let mut lines: Vec<String> = (0..120).map(|i| unissued(PREFIX, i)).collect();
    lines[3] = early.key.clone();
    lines[110] = late.key.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    // This address has used 19 of its 20 reports: the scan's first report is accepted, the
    // second refused (429), and the third is never sent.
    let spend = json!({"keys": ["bos_x"]});
    let spent = futures_util::future::join_all(
        (0..19).map(|_| async { app.anonymous().post("/v1/leaks", &spend).await.status }),
    )
    .await;
    assert!(spent.iter().all(|s| s.as_u16() == 202), "{spent:?}");

    let out = keyward()
        .arg("scan")
        .arg(&file)
        .args(["--report", "--json"])
        .env("KEYWARD_URL", &app.address)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let flags: Vec<bool> = printed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reported"].as_bool().unwrap())
        .collect();
    assert_eq!(flags.len(), 120, "{printed}");
    // Reports are accepted in order up to the refused one: normally 50 keys, 100 if the
    // limit refilled a report in between (one every 3 seconds).
    let accepted = flags.iter().take_while(|f| **f).count();
    assert!(accepted == 50 || accepted == 100, "{flags:?}");
    assert!(flags[accepted..].iter().all(|f| !f), "{flags:?}");
    assert_eq!(printed["reported"], false);
    assert_eq!(printed["reported_keys"], accepted);
    assert!(
        printed["report_error"].as_str().unwrap().contains("(429)"),
        "{printed}"
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("{} of 120 keys were NOT reported", 120 - accepted)),
        "{said}"
    );
    assert!(!said.contains("the keys were NOT reported"), "{said}");

    // What the output says is what happened.
    assert_eq!(app.api().verify_code(&early.key, None).await, "REVOKED");
    assert_eq!(app.api().verify_code(&late.key, None).await, "VALID");

    // People get the same facts in the table (this run may have a refilled report or none).
    let table = keyward()
        .arg("scan")
        .arg(&file)
        .args(["--report"])
        .env("KEYWARD_URL", &app.address)
        .output()
        .unwrap();
    assert_eq!(table.status.code(), Some(2), "{}", describe(&table));
    let shown = String::from_utf8_lossy(&table.stdout);
    let mut rows = shown.lines();
    assert!(rows.next().unwrap().ends_with("REPORTED"), "{shown}");
    let yes = rows.clone().filter(|r| r.ends_with("yes")).count();
    assert_eq!(rows.count(), 120, "{shown}");
    // Whole reports of 50, in order, and never all of them (one refill every 3 seconds).
    assert!(yes % 50 == 0 && yes < 120, "{shown}");
    assert!(
        rows_in_order_reported(&shown, yes),
        "the first {yes} rows are the reported ones: {shown}"
    );
    let said = String::from_utf8_lossy(&table.stderr);
    assert!(
        said.contains(&format!("{} of 120 keys were NOT reported", 120 - yes)),
        "{said}"
    );
}

/// Whether the table's first `yes` rows, and only they, say `yes`.
fn rows_in_order_reported(table: &str, yes: usize) -> bool {
    table
        .lines()
        .skip(1)
        .enumerate()
        .all(|(i, row)| row.ends_with("yes") == (i < yes))
}
