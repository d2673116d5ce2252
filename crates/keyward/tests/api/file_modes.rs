//! The files that hold a workspace's secrets' digests and its audit trail are private to the
//! server's user whatever the umask: `keyward init` and `keyward serve` run under `umask 000`
//! here, and the database, its WAL and shared memory, and every file of the audit journal
//! are still `0600` (the journal's directory `0700`), as is the anchor signing key; the anchor
//! public key and the anchor log are `0644`, not the umask's `0666`.

use crate::helpers::{describe, keyward, Api, Workspace};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `keyward <args>` run by `sh` after `umask 000`, with the environment `keyward()` sets.
fn under_umask_000(args: &[&str]) -> Command {
    let template = keyward();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#"umask 000 && exec "$@""#)
        .arg("sh")
        .arg(template.get_program())
        .args(args);
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => sh.env(name, value),
            None => sh.env_remove(name),
        };
    }
    sh.stdin(Stdio::null());
    sh
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[tokio::test]
async fn the_database_its_wal_and_the_journal_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kw.db");
    let url = format!("sqlite://{}", db.display());
    let init = under_umask_000(&[
        "init",
        "--database-url",
        &url,
        "--workspace",
        "File modes",
        "--prefix",
        "bos",
        "--json",
    ])
    .output()
    .unwrap();
    assert!(init.status.success(), "{}", describe(&init));
    let init: Value = serde_json::from_slice(&init.stdout).unwrap();
    let workspace = Workspace {
        id: init["workspace_id"].as_str().unwrap().to_owned(),
        root_key: init["root_key"].as_str().unwrap().to_owned(),
    };
    crate::helpers::remember_secret(&workspace.root_key);

    let mut server = under_umask_000(&["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env("KEYWARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("listening on http://") {
                let address: String = line[at + "listening on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(address);
            }
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let Ok(address) = rx.recv_timeout(Duration::from_secs(120)) else {
        let _ = server.kill();
        let _ = server.wait();
        panic!("the server did not start: {}", reader.join().unwrap());
    };

    // A key and a verification: the journal gets a segment, the database a WAL.
    let api = Api::at(&address, Some(&workspace.root_key));
    let created = api
        .post("/v1/keys", &json!({"name": "File Mode Check Integration"}))
        .await;
    let key = created.expect(201)["key"].as_str().unwrap().to_owned();
    let verified = api.post("/v1/verify", &json!({"key": key})).await;
    assert_eq!(verified.expect(200)["code"], "VALID");
    // An anchor: the anchor log gets its first line.
    let anchored = api.post("/v1/audit/anchor", &json!({})).await;
    assert!(anchored.expect(200)["signature"].is_string());

    let journal = with_suffix(&db, ".audit-journal");
    let mut checked = vec![
        (db.clone(), 0o600),
        (with_suffix(&db, "-wal"), 0o600),
        (with_suffix(&db, "-shm"), 0o600),
        (journal.clone(), 0o700),
        (with_suffix(&db, ".anchor-key"), 0o600),
        // Public, but writable by the server's user alone.
        (with_suffix(&db, ".anchor-key.pub"), 0o644),
        (with_suffix(&db, ".audit-anchors"), 0o644),
    ];
    for entry in std::fs::read_dir(&journal).unwrap() {
        checked.push((entry.unwrap().path(), 0o600));
    }
    let _ = server.kill();
    let _ = server.wait();
    let log = reader.join().unwrap();
    crate::helpers::assert_no_secret_in("the server's log", &log);

    assert!(
        checked
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "seg")),
        "the journal has a segment: {checked:?}"
    );
    let wrong: Vec<String> = checked
        .iter()
        .filter(|(path, want)| mode(path) != *want)
        .map(|(path, want)| format!("{} is {:o}, not {want:o}", path.display(), mode(path)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
