//! Leak defence end to end with the real binary: keys from a running server written into a
//! real `.docx` (split across two Word runs) and an `.xlsx` are found by `keyward scan
//! --report` and revoked, with where each was found in the audit trail; a reported root key
//! is revoked at once; and `scan --report` says exactly which keys were reported when the
//! server refuses a report midway.

use crate::helpers::{
    checksum, describe, keyward, spawn_app, unissued_key, Answer, TestApp, PREFIX,
};
use crate::leaks::support::root_key;
use serde_json::{json, Value};
use std::io::{Cursor, Write};

async fn create_key(server: &TestApp, name: &str) -> String {
    let created = server.api().create_key_ok(&json!({ "name": name })).await;
    created["key"].as_str().unwrap().to_owned()
}

fn zip(entries: &[(&str, String)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A Word document whose only key is split across two `<w:r><w:t>` runs.
fn docx(first: &str, second: &str) -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Handover: the Stripe key is</w:t></w:r></w:p><w:p><w:r><w:rPr><w:b/></w:rPr><w:t>{first}</w:t></w:r><w:proofErr w:type="spellStart"/><w:r><w:t>{second}</w:t></w:r></w:p></w:body></w:document>"#
    );
    zip(&[
        ("[Content_Types].xml", types.to_owned()),
        ("_rels/.rels", rels.to_owned()),
        ("word/document.xml", document),
    ])
}

/// A spreadsheet with the key in its shared strings.
fn xlsx(key: &str) -> Vec<u8> {
    let shared = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>Payroll export</t></si><si><t>{key}</t></si></sst>"#
    );
    let sheet = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row></sheetData></worksheet>"#;
    zip(&[
        ("xl/worksheets/sheet1.xml", sheet.to_owned()),
        ("xl/sharedStrings.xml", shared),
    ])
}

/// A key in the published format that no server issued, distinct per `i`.
fn unissued(prefix: &str, i: usize) -> String {
    let signed = format!("{prefix}_UnissuedLeakReportKey{i:011}");
    let sum = checksum(&signed);
    format!("{signed}{sum}")
}

/// Whether the table's first `yes` rows, and only they, say `yes`.
fn rows_in_order_reported(table: &str, yes: usize) -> bool {
    table
        .lines()
        .skip(1)
        .enumerate()
        .all(|(i, row)| row.ends_with("yes") == (i < yes))
}

#[tokio::test]
async fn scanned_and_reported_keys_are_revoked_with_their_location_audited() {
    let server = spawn_app();
    let dir = tempfile::tempdir().unwrap();
    let in_word = create_key(&server, "Stripe Invoice Sending Integration").await;
    let in_sheet = create_key(&server, "Payroll Export to Xero").await;
    let untouched = create_key(&server, "Reporting Dashboard Reader").await;

    let files = dir.path().join("share");
    std::fs::create_dir_all(&files).unwrap();
    let (a, b) = in_word.split_at(in_word.len() / 2);
    std::fs::write(files.join("handover.docx"), docx(a, b)).unwrap();
    std::fs::write(files.join("keys.xlsx"), xlsx(&in_sheet)).unwrap();
    std::fs::write(files.join("readme.txt"), "nothing secret here\n").unwrap();

    let out = keyward()
        .args(["scan"])
        .arg(&files)
        .args(["--report", "--source", "e2e file-share sweep"])
        .env("KEYWARD_URL", &server.address)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for key in [&in_word, &in_sheet] {
        assert!(!stdout.contains(key.as_str()) && !stderr.contains(key.as_str()));
        assert!(stdout.contains(&key[..8]), "{stdout}");
    }
    assert!(stdout.contains("word/document.xml"), "{stdout}");
    assert!(stderr.contains("reported"), "{stderr}");

    assert_eq!(server.api().verify_code(&in_word, None).await, "REVOKED");
    assert_eq!(server.api().verify_code(&in_sheet, None).await, "REVOKED");
    assert_eq!(server.api().verify_code(&untouched, None).await, "VALID");

    let audit = server
        .api()
        .get("/v1/audit?kind=key.leaked")
        .await
        .expect(200)
        .clone();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    let details: Vec<&str> = events
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or_default())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("handover.docx: word/document.xml")
                && d.contains("e2e file-share sweep")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("keys.xlsx: xl/sharedStrings.xml")),
        "{details:?}"
    );
    assert!(events.iter().all(|e| e["ip"] == "127.0.0.1"), "{audit}");
    let audit_text = audit.to_string();
    assert!(!audit_text.contains(&in_word) && !audit_text.contains(&in_sheet));

    // The answer says nothing about validity: a made-up key gets the same 202 shape.
    let anonymous = server.anonymous();
    let leaks = "/v1/leaks";
    let fake = anonymous
        .post(
            leaks,
            &json!({"keys": ["bos_notarealkeyatallnotarealkeyatall123456"], "source": "x"}),
        )
        .await;
    assert_eq!(fake.status.as_u16(), 202);
    let real = anonymous
        .post(leaks, &json!({"keys": [untouched], "source": "x"}))
        .await;
    assert_eq!(real.status.as_u16(), 202);
    let json = |answer: &Answer| serde_json::from_str::<Value>(&answer.text).unwrap();
    let (fake, real): (Value, Value) = (json(&fake), json(&real));
    assert_eq!(fake, real);
    assert_eq!(server.api().verify_code(&untouched, None).await, "REVOKED");

    // Bad reports are refused clearly.
    let too_many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    for body in [
        json!({"keys": []}),
        json!({"keys": too_many}),
        json!({"key": "x"}),
    ] {
        let res = anonymous.post(leaks, &body).await;
        assert_eq!(res.status.as_u16(), 400, "{body}");
    }
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
