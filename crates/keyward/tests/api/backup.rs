//! `keyward backup` under load and `keyward restore`: keys are created and verified
//! concurrently over loopback while the backup is taken; a server started on the restored
//! copy verifies every key acknowledged before the backup began, holds the audit event of
//! every verification acknowledged before it began (events the database may not have taken
//! in from the audit journal yet), and its audit chain checks.

use crate::helpers::in_process::{self, InProcess};
use crate::helpers::{describe, keyward, log_capture, spawn_app, spawn_process_app, Api};
use keyward::backup::{self, Source};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Concurrent clients of the load, and the most operations each makes.
const WORKERS: usize = 4;
const MOST_ROUNDS: usize = 150;

#[derive(Default)]
struct Acknowledged {
    /// (id, key) of every key whose creation was answered `201`.
    keys: Mutex<Vec<(String, String)>>,
    /// Ids of keys whose verification was answered `VALID`.
    verified: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_acknowledged_key_and_verification() {
    let app = spawn_app();
    let root_key = app.root_key().to_owned();
    let address = app.address.clone();
    let acked = Arc::new(Acknowledged::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (progress, mut started) = tokio::sync::watch::channel(0usize);
    let progress = Arc::new(progress);
    // Half the workers create keys and verify each; the other half only verify, which
    // keeps verification events waiting in the audit journal (creating a key settles it).
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (acked, stop, progress) = (acked.clone(), stop.clone(), progress.clone());
            let api = Api::at(&address, Some(&root_key));
            tokio::spawn(async move {
                for round in 0..MOST_ROUNDS {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let (id, key) = if worker % 2 == 0 {
                        let name = format!("Backup load integration {worker}-{round}");
                        let created = api
                            .create_key_ok(&json!({"name": name, "permissions": ["invoices:read"]}))
                            .await;
                        let id = created["id"].as_str().unwrap().to_owned();
                        let key = created["key"].as_str().unwrap().to_owned();
                        acked.keys.lock().unwrap().push((id.clone(), key.clone()));
                        (id, key)
                    } else {
                        let known = acked.keys.lock().unwrap().clone();
                        match known.get(round % known.len().max(1)) {
                            Some(known) => known.clone(),
                            None => {
                                tokio::task::yield_now().await;
                                continue;
                            }
                        }
                    };
                    let code = api.verify_code(&key, Some("invoices:read")).await;
                    assert_eq!(code, "VALID");
                    acked.verified.lock().unwrap().push(id);
                    progress.send_modify(|n| *n += 1);
                }
            })
        })
        .collect();
    started.wait_for(|n| *n >= 20).await.unwrap();

    // Everything acknowledged by now must be in the backup.
    let keys_before = acked.keys.lock().unwrap().clone();
    let verified_before = acked.verified.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = dir.path().join("backup");
    let source = Source {
        database_url: format!("sqlite://{}", app.db_path.display()),
        audit_journal: None,
    };
    let manifest = backup::backup(&source, &backup_dir).await.unwrap();
    stop.store(true, Ordering::Release);
    for worker in workers {
        worker.await.unwrap();
    }
    let during = acked.keys.lock().unwrap().len() - keys_before.len();
    eprintln!(
        "backup: {} keys acknowledged before it, {during} while and after; {} events taken in \
         from the journal",
        keys_before.len(),
        manifest.journal_events_taken_in
    );
    drop(app);

    let data_dir = dir.path().join("restored");
    let restored = backup::restore(&backup_dir, &data_dir).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let restored_address = format!("http://{}", listener.local_addr().unwrap());
    let (id, _log) = log_capture::register();
    let config = in_process::config(&format!("sqlite://{}", restored.display()), &[]);
    let server = InProcess::start(id, config, listener);
    let api = Api::at(&restored_address, Some(&root_key));

    let mut verified_before = verified_before;
    verified_before.sort();
    verified_before.dedup();
    for key_id in &verified_before {
        let events = api
            .get(&format!(
                "/v1/audit?key_id={key_id}&kind=key.verified&limit=1"
            ))
            .await;
        let events = events.expect(200)["events"].as_array().unwrap().clone();
        assert_eq!(
            events.len(),
            1,
            "the verification of {key_id} is not in the backup"
        );
    }
    for (key_id, key) in &keys_before {
        let code = api.verify_code(key, Some("invoices:read")).await;
        assert_eq!(code, "VALID", "{key_id} does not verify after the restore");
    }
    let chain = api.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(chain["valid"], true, "{chain}");
    assert!(server.stop());
}

#[tokio::test]
async fn a_backup_after_a_crash_holds_the_verifications_only_the_journal_had() {
    let mut app = spawn_process_app();
    let root_key = app.root_key().to_owned();
    let key = app
        .api()
        .new_key("Payroll Export Integration", &["payroll:read"])
        .await;
    const VERIFICATIONS: usize = 40;
    for _ in 0..VERIFICATIONS {
        assert_eq!(app.api().verify_code(&key.key, None).await, "VALID");
    }
    // SIGKILL: whatever the database had not taken in yet is only in the journal.
    app.kill();

    let dir = tempfile::tempdir().unwrap();
    let source = Source {
        database_url: format!("sqlite://{}", app.db_path.display()),
        audit_journal: None,
    };
    let manifest = backup::backup(&source, &dir.path().join("backup"))
        .await
        .unwrap();
    eprintln!(
        "{} events taken in from the journal",
        manifest.journal_events_taken_in
    );
    // The backup is its database file alone: no write left in a log beside it (closing the
    // copy did not always checkpoint it, and such a restore would not start).
    let wal = dir.path().join("backup").join("keyward.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the copy's write-ahead log still holds writes"
    );
    let restored = backup::restore(&dir.path().join("backup"), &dir.path().join("data"))
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (id, _log) = log_capture::register();
    let config = in_process::config(&format!("sqlite://{}", restored.display()), &[]);
    let server = InProcess::start(id, config, listener);
    let api = Api::at(&address, Some(&root_key));
    let events = api
        .get(&format!(
            "/v1/audit?key_id={}&kind=key.verified&limit=100",
            key.id
        ))
        .await;
    let events = events.expect(200)["events"].as_array().unwrap().len();
    assert_eq!(events, VERIFICATIONS, "verifications lost by the backup");
    let chain = api.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(chain["valid"], true, "{chain}");
    assert!(server.stop());
}

#[tokio::test]
async fn restore_refuses_a_directory_that_is_not_empty_and_a_directory_that_is_no_backup() {
    let app = spawn_app();
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = dir.path().join("backup");
    let source = Source {
        database_url: format!("sqlite://{}", app.db_path.display()),
        audit_journal: None,
    };
    backup::backup(&source, &backup_dir).await.unwrap();
    // A second backup into the same directory is refused too.
    assert!(backup::backup(&source, &backup_dir).await.is_err());

    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keyward.db"), b"precious").unwrap();
    let refused = backup::restore(&backup_dir, &occupied).await.unwrap_err();
    assert!(format!("{refused:#}").contains("not empty"), "{refused:#}");
    assert_eq!(
        std::fs::read(occupied.join("keyward.db")).unwrap(),
        b"precious"
    );

    let not_a_backup = backup::restore(&occupied, &dir.path().join("fresh")).await;
    assert!(not_a_backup.is_err());
}

#[test]
fn backup_of_a_postgres_url_points_to_postgres_tools() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward()
        .args([
            "backup",
            "--database-url",
            "postgres://keyward@127.0.0.1:1/keyward",
            "--to",
        ])
        .arg(dir.path().join("backup"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pg_dump") && stderr.contains("pg_basebackup"),
        "{stderr}"
    );
}

#[test]
fn the_backup_and_restore_commands_round_trip_a_stopped_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let db_url = format!("sqlite://{}", db.display());
    let init = keyward()
        .args(["init", "--database-url", &db_url, "--json"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", describe(&init));
    let backup_dir = dir.path().join("backup");
    let backed_up = keyward()
        .args(["backup", "--database-url", &db_url, "--to"])
        .arg(&backup_dir)
        .output()
        .unwrap();
    assert!(backed_up.status.success(), "{}", describe(&backed_up));
    let restored = keyward()
        .args(["restore", "--from"])
        .arg(&backup_dir)
        .arg("--to")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(restored.status.success(), "{}", describe(&restored));
    assert!(dir.path().join("data/keyward.db").is_file());
}
