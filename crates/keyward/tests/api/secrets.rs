//! Only hashes are stored and nothing secret is logged: after creating, rotating and
//! verifying keys (with the server logging at `trace`), and after a calling service and a
//! leak reporter put keys and root keys into the free text the audit trail keeps (verify's
//! `resource`, `action`, `user_agent`, `origin` and `ip`, a leak report's `source` and
//! `location`; whole, and glued to other characters such as `%3D`, `x` or a trailing `abc`),
//! the database file, its WAL and shared memory, every file of the audit
//! journal and the captured log contain no key, no secret part and no hex digest of a key.

use crate::helpers::{
    contains_bytes, read_if_exists, secret_part, spawn_app_with, NewKey, TestApp,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Every form of `secret` that must appear nowhere: the key, its secret part, its SHA-256
/// in hex (both cases).
fn forms(secret: &str) -> Vec<(String, Vec<u8>)> {
    let digest = Sha256::digest(secret.as_bytes());
    vec![
        ("the plaintext".into(), secret.as_bytes().to_vec()),
        (
            "the secret part".into(),
            secret_part(secret).as_bytes().to_vec(),
        ),
        (
            "the lowercase hex SHA-256".into(),
            hex::encode(digest).into_bytes(),
        ),
        (
            "the uppercase hex SHA-256".into(),
            hex::encode_upper(digest).into_bytes(),
        ),
    ]
}

fn with_suffix(db: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[tokio::test]
async fn no_key_is_stored_or_logged_in_any_recoverable_form() {
    let mut app = spawn_app_with(2);
    let mut secrets: Vec<(String, String)> = app
        .workspaces
        .iter()
        .enumerate()
        .map(|(i, w)| (format!("root key of workspace {i}"), w.root_key.clone()))
        .collect();
    let mut keys: Vec<NewKey> = Vec::new();
    {
        let api = app.api();
        for (name, permissions) in [
            (
                "Stripe Invoice Sending Integration",
                vec!["invoices:receive"],
            ),
            ("Payroll CSV Export", vec!["payroll:read", "payroll:export"]),
            ("Xero Bank Feed Sync", vec!["bank:*"]),
        ] {
            keys.push(NewKey::from(
                &api.create_key_ok(&json!({
                    "name": name,
                    "owner_id": "cust_42",
                    "permissions": permissions,
                    "metadata": {"team": "finance"}
                }))
                .await,
            ));
        }
        let rotated = NewKey::from(api.rotate_key(&keys[0].id, 3600).await.expect(201));
        let rotated_again = NewKey::from(api.rotate_key(&rotated.id, 0).await.expect(201));
        keys.push(rotated);
        keys.push(rotated_again);
        let disabled = NewKey::from(
            &api.create_key_ok(&json!({"name": "Disabled Warehouse Connector", "enabled": false}))
                .await,
        );
        keys.push(disabled);
        let revoked = api
            .new_key("Leaked Shopify Connector", &["orders:read"])
            .await;
        // A reason that quotes the key itself (stored with the key and in its event).
        let reason = format!("found in a Word document: {}", revoked.key);
        api.revoke_key(&revoked.id, Some(&reason)).await.expect(200);
        keys.push(revoked);
        let updated = api
            .new_key("Reporting Warehouse Loader", &["reports:read"])
            .await;
        api.update_key(
            &updated.id,
            &json!({
                "permissions": ["reports:read", "reports:export"],
                "description": format!("loader; its key is {}", updated.key),
                "owner_id": updated.key,
            }),
        )
        .await
        .expect(200);
        keys.push(updated);

        let limited = api
            .create_root_key("Verify-only Service Root Key", &["keys:verify"])
            .await
            .expect(201)
            .clone();
        let limited = limited["key"].as_str().unwrap().to_owned();
        secrets.push(("a limited root key".into(), limited.clone()));

        // Verify each: valid, with a permission it lacks, by the limited root key, and by the
        // other workspace (not found).
        let verifier = app.as_root(&limited);
        let other = app.as_root(&app.workspaces[1].root_key);
        for key in &keys {
            api.verify(&key.key, None).await.expect(200);
            api.verify(&key.key, Some("audit:delete")).await.expect(200);
            verifier
                .verify(&key.key, Some("invoices:receive OR payroll:read"))
                .await
                .expect(200);
            other.verify(&key.key, None).await.expect(200);
        }
        // Failed authentications and bad input carrying keys.
        app.as_root(&keys[0].key).list_keys("").await.expect(401);
        api.create_key(&json!({"name": "Payroll CSV Export", "permissions": [keys[1].key]}))
            .await
            .expect(400);
        api.verify(&keys[2].key, Some(&keys[2].key))
            .await
            .expect(400);
        api.create_key(&json!({"name": keys[3].key, "extra": true}))
            .await
            .expect(400);

        // A calling service that copies whatever it was sent into verify's context fields:
        // keys and root keys, alone and inside longer text. Verification still answers.
        let live = &keys[1].key;
        let root = app.workspaces[0].root_key.clone();
        let other_root = app.workspaces[1].root_key.clone();
        let context = json!({
            "key": live,
            "resource": format!("/v1/invoices?api_key={live}&root={root}"),
            "action": root,
            "user_agent": format!("curl/8.5 ({other_root})"),
            "origin": format!("https://{live}.example.com"),
            "ip": live,
        });
        let answer = api.post("/v1/verify", &context).await;
        assert_eq!(answer.expect(200)["code"], "VALID", "{}", answer.text);
        let answer = verifier.post("/v1/verify", &context).await;
        answer.expect(200);
        // Keys glued to other characters (URL-encoded separators, a letter or digit before,
        // letters after): not whole words, still found by their checksum.
        let glued = &keys[2].key;
        for (field, value) in [
            ("resource", format!("%20{glued}")),
            ("resource", format!("/v1/invoices?api_key%3D{glued}")),
            ("action", format!("token%3A{root}")),
            ("user_agent", format!("x{glued}")),
            ("origin", format!("0{other_root}")),
            ("resource", format!("/v1/invoices/{glued}abc")),
        ] {
            let body = json!({"key": live, field: value});
            let answer = api.post("/v1/verify", &body).await;
            assert_eq!(answer.expect(200)["code"], "VALID", "{}", answer.text);
        }
        // A leak report whose source and location hold keys: the already revoked key is
        // reported, so its owner gets a `key.leaked` event with the text in its detail.
        let report = json!({
            "keys": [
                {"key": keys[5].key, "location": format!("pastebin.example/raw/{live} (also {root}, x{glued}abc)")},
            ],
            "source": format!("a scan that pasted {other_root} and api_key%3D{glued}"),
        });
        app.anonymous().post("/v1/leaks", &report).await.expect(202);
        let trail = api
            .get("/v1/audit?kind=key.leaked")
            .await
            .expect(200)
            .clone();
        assert!(
            trail.to_string().contains("pastebin.example/raw/bos_"),
            "the location is kept, with the key shown by its start: {trail}"
        );
    }
    secrets.extend(
        keys.iter()
            .map(|k| (format!("key {:?}", k.body["name"]), k.key.clone())),
    );

    // No clean shutdown: whatever is in the WAL stays there.
    app.kill();

    let wal = with_suffix(&app.db_path, "-wal");
    let shm = with_suffix(&app.db_path, "-shm");
    let database = read_if_exists(&app.db_path);
    assert!(
        !database.is_empty(),
        "the database file exists and holds data"
    );
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("the database file".into(), database),
        ("the WAL".into(), read_if_exists(&wal)),
        ("the shared-memory file".into(), read_if_exists(&shm)),
        ("the server's log".into(), app.log()),
    ];
    let journal = with_suffix(&app.db_path, ".audit-journal");
    let journal_files = journal_files(&journal);
    assert!(
        journal_files.iter().any(|(name, _)| name.ends_with(".seg")),
        "the audit journal has segments: {journal_files:?}"
    );
    let journaled = journal_files
        .iter()
        .map(|(_, bytes)| &bytes[..])
        .collect::<Vec<_>>()
        .concat();
    places.extend(
        journal_files
            .into_iter()
            .map(|(name, bytes)| (format!("the audit journal's {name}"), bytes)),
    );
    let log = String::from_utf8_lossy(&places[3].1).into_owned();
    assert!(
        log.contains("listening on http://"),
        "the log was captured: {log}"
    );
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the server logged verbosely:\n{log}"
    );
    // Proof the search works: the key ids (public) are in the database.
    let stored = [&places[0].1[..], &places[1].1[..]].concat();
    for key in &keys {
        assert!(
            contains_bytes(&stored, key.id.as_bytes()),
            "key id {} not found in the database or WAL",
            key.id
        );
    }
    // And verifications were journaled: their event text is in the journal's segments, so
    // a key there would have been found.
    assert!(
        contains_bytes(&journaled, b"/v1/invoices?api_key=bos_"),
        "the verification's resource is in the audit journal"
    );

    let mut found = Vec::new();
    for (what, secret) in &secrets {
        for (form, needle) in forms(secret) {
            for (place, haystack) in &places {
                if contains_bytes(haystack, &needle) {
                    found.push(format!("{form} of the {what} is in {place}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    restart_still_verifies(&mut app, &keys).await;
}

/// `(file name, bytes)` of every file in the audit journal's directory (segments, `ID`,
/// `LOCK`, anything else).
fn journal_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading the audit journal {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The stored hashes are enough to verify after a restart (the test above did not pass by
/// storing nothing).
async fn restart_still_verifies(app: &mut TestApp, keys: &[NewKey]) {
    app.restart();
    let api = app.api();
    assert_eq!(
        api.verify_code(&keys[1].key, Some("payroll:read")).await,
        "VALID"
    );
    assert_eq!(
        api.verify_code(&keys[0].key, None).await,
        "VALID",
        "rotated with a grace period"
    );
    assert_eq!(
        api.verify_code(&keys[4].key, None).await,
        "VALID",
        "the latest rotation"
    );
    assert_eq!(
        api.verify_code(&keys[3].key, None).await,
        "REVOKED",
        "rotated without grace"
    );
}
