//! `keyward import` (the real binary) into a running server: plaintext keys and SHA-256
//! digests (hex; base64 as Unkey and better-auth store them) from JSON lines and CSV; the
//! imported keys verify, are marked `imported`, advise rotation and rotate to keyward keys;
//! a re-run imports nothing twice; refused rows are reported by line, never with the key.

use crate::helpers::{
    assert_key_format, describe, keyward, remember_secret, secret_part, spawn_app, Rng, TestApp,
    PREFIX,
};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::process::Output;

/// A key as another system would have issued it: not keyward's format.
fn foreign_key(rng: &mut Rng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789";
    let body: String = (0..28)
        .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len() as u64) as usize]))
        .collect();
    let key = format!("{prefix}{body}");
    remember_secret(&key);
    key
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn import(app: &TestApp, file: &std::path::Path, args: &[&str]) -> Output {
    let out = keyward()
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_ROOT_KEY", app.root_key())
        .arg("import")
        .arg(file)
        .args(args)
        .output()
        .expect("running keyward import");
    out
}

/// Neither stream of `out` shows any part of `keys`.
#[track_caller]
fn assert_shows_none_of(out: &Output, keys: &[&str]) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for key in keys {
        assert!(
            !text.contains(secret_part(key)),
            "a key was printed: {}",
            describe(out)
        );
    }
}

async fn id_named(app: &TestApp, name: &str) -> Value {
    let list = app.api().list_keys("?limit=100").await.expect(200).clone();
    list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == name)
        .unwrap_or_else(|| panic!("no key named {name}: {list}"))
        .clone()
}

#[tokio::test]
async fn imported_keys_verify_are_marked_rotate_to_keyward_keys_and_a_rerun_imports_nothing() {
    let app = spawn_app();
    let api = app.api();
    let mut rng = Rng::seeded("import");
    let plain = foreign_key(&mut rng, "sk_live_");
    let by_hex = foreign_key(&mut rng, "legacy-");
    let unkey = foreign_key(&mut rng, "uk_");
    let better_auth = foreign_key(&mut rng, "ba_");
    let dir = tempfile::tempdir().unwrap();

    let jsonl = dir.path().join("keys.jsonl");
    let lines = [
        json!({"key": plain, "name": "Stripe Invoice Sync", "owner_id": "cust_42",
               "permissions": ["invoices:read"], "metadata": {"from": "legacy"}}),
        json!({"digest": hex::encode(digest(&by_hex)), "start": "legacy-",
               "name": "Payroll Export", "permissions": ["payroll:read"],
               "expires_at": "2099-01-01T00:00:00Z"}),
        json!({"key": plain, "digest": hex::encode(digest(&plain)), "name": "Both"}),
        json!({"key": foreign_key(&mut rng, "x_"), "name": "Bad Permission",
               "permissions": ["not a permission"]}),
        json!({"key": foreign_key(&mut rng, "y_")}),
    ];
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&jsonl, text.join("\n") + "\n\n").unwrap();
    let out = import(&app, &jsonl, &["--format", "jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some rows refused: {}",
        describe(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("line 3: refused: the row has both key and digest"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 4: refused: permissions[0]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 5: refused: the row has no name"),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 rows: 2 imported, 0 skipped (already imported), 3 refused"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("import: 2 imported"));
    assert_shows_none_of(&out, &[&plain, &by_hex]);

    // Digests as Unkey (standard base64, padded) and better-auth (URL-safe, unpadded) store them.
    let csv = dir.path().join("keys.csv");
    std::fs::write(
        &csv,
        format!(
            "digest,name,permissions,enabled\n{},Unkey Customer,invoices:read invoices:write,true\n{},Better Auth Customer,invoices:read,true\n",
            base64::engine::general_purpose::STANDARD.encode(digest(&unkey)),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest(&better_auth)),
        ),
    )
    .unwrap();
    let out = import(&app, &csv, &["--format", "csv", "--digest", "base64"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    for (key, permission) in [
        (&plain, "invoices:read"),
        (&by_hex, "payroll:read"),
        (&unkey, "invoices:write"),
        (&better_auth, "invoices:read"),
    ] {
        assert_eq!(api.verify_code(key, Some(permission)).await, "VALID");
    }
    assert_eq!(
        api.verify_code(&plain, Some("payroll:read")).await,
        "INSUFFICIENT_PERMISSIONS"
    );
    // One character off is unknown, like any other string.
    let mut typo = plain.clone();
    typo.pop();
    assert_eq!(api.verify_code(&typo, None).await, "NOT_FOUND");

    let shown = id_named(&app, "Stripe Invoice Sync").await;
    assert_eq!(shown["imported"], true);
    assert_eq!(shown["owner_id"], "cust_42");
    assert_eq!(shown["metadata"]["from"], "legacy");
    assert_eq!(shown["start"], "sk_live_");
    let id = shown["id"].as_str().unwrap().to_owned();
    let payroll = id_named(&app, "Payroll Export").await;
    assert_eq!(payroll["start"], "legacy-");
    assert_eq!(payroll["expires_at"], "2099-01-01T00:00:00Z");

    // The CLI advises rotating it.
    let show = keyward()
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_ROOT_KEY", app.root_key())
        .args(["keys", "show", &id])
        .output()
        .unwrap();
    let shown_text = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown_text.contains("imported") && shown_text.contains("keyward keys rotate"),
        "{shown_text}"
    );

    // A re-run changes nothing: every key is skipped.
    let again = import(&app, &jsonl, &["--format", "jsonl", "--json"]);
    assert_eq!(again.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["imported"], 0);
    assert_eq!(summary["skipped"], 2);
    assert_eq!(summary["refused"].as_array().unwrap().len(), 3);
    let list = api.list_keys("?limit=100").await.expect(200).clone();
    assert_eq!(list["keys"].as_array().unwrap().len(), 4);

    // Each import is in the audit trail.
    let trail = api
        .get("/v1/audit?kind=key.imported")
        .await
        .expect(200)
        .clone();
    assert_eq!(trail["events"].as_array().unwrap().len(), 4, "{trail}");

    // Rotating gives a keyward key; the old one keeps working through its grace period.
    let rotated = api.rotate_key(&id, 3600).await.expect(201).clone();
    let new_key = rotated["key"].as_str().unwrap();
    assert_key_format(new_key, PREFIX);
    assert_eq!(rotated["imported"], false);
    assert_eq!(
        api.verify_code(new_key, Some("invoices:read")).await,
        "VALID"
    );
    assert_eq!(
        api.verify_code(&plain, Some("invoices:read")).await,
        "VALID"
    );
}
