//! Leak defence end to end: keys from a running server are written into a real `.docx` (split
//! across two Word runs) and an `.xlsx`; `keyward scan --report` finds and reports them;
//! verify then answers `REVOKED` and the audit trail shows where each was found.

use crate::helpers::{keyward, spawn_app, TestApp};
use serde_json::{json, Value};
use std::io::{Cursor, Write};

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
    let anonymous = reqwest::Client::new();
    let leaks = server.url("/v1/leaks");
    let fake = anonymous
        .post(&leaks)
        .json(&json!({"keys": ["bos_notarealkeyatallnotarealkeyatall123456"], "source": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fake.status().as_u16(), 202);
    let real = anonymous
        .post(&leaks)
        .json(&json!({"keys": [untouched], "source": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(real.status().as_u16(), 202);
    let (fake, real): (Value, Value) = (fake.json().await.unwrap(), real.json().await.unwrap());
    assert_eq!(fake, real);
    assert_eq!(server.api().verify_code(&untouched, None).await, "REVOKED");

    // Bad reports are refused clearly.
    let too_many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    for body in [
        json!({"keys": []}),
        json!({"keys": too_many}),
        json!({"key": "x"}),
    ] {
        let res = anonymous.post(&leaks).json(&body).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400, "{body}");
    }
}

#[tokio::test]
async fn reports_are_rate_limited_per_address() {
    let server = spawn_app();
    let client = reqwest::Client::new();
    let leaks = server.url("/v1/leaks");
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let res = client
            .post(&leaks)
            .json(&json!({"keys": ["bos_x"]}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert!(statuses[..20].iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(statuses[24], 429, "{statuses:?}");
}

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
