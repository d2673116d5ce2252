//! The audit journal of `keyward serve`, with the real binary: verifications answered `200`
//! survive a SIGKILL (their events are durable in the journal before the answer, and the
//! next start takes them into the database), a graceful stop leaves the database complete on
//! its own, the journal lives where it is told (or beside the database), and a second server
//! cannot use a journal that one is using. Under concurrent verifications with a SIGKILL
//! midway, no answered verification is lost and none is recorded twice.

use crate::audit::support::{assert_intact, chain, events, export, text, verify, STRIPE};
use crate::helpers::{
    keyward, sigkill, spawn_process_app, spawn_process_app_env, Api, NewKey, Rng,
};
use keyward_client::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Where the journal of the database file `db` goes by default, as documented.
fn default_journal(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.audit-journal", db.display()))
}

fn database_url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// The segment files (`*.seg`) in a journal directory.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.expect("reading the journal directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect()
}

/// `key.verified` events of one key, through `GET /v1/audit` (every page).
async fn verified_events(api: &Api<'_>, key_id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = format!("/v1/audit?kind=key.verified&key_id={key_id}&limit=1000");
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let body = api.get(&query).await.expect(200).clone();
        all.extend(body["events"].as_array().expect("events").iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// `GET /v1/audit/verify`: asserts the chain is valid; returns how many events it holds.
async fn assert_chain_valid(api: &Api<'_>) -> u64 {
    let check = api.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(check["valid"], json!(true), "{check}");
    check["events"].as_u64().expect("events checked")
}

/// `(key, resource)` of one verification request.
type Sent = (usize, String);

/// Verification load against one server process that SIGKILLs it after `kill_at` answers.
struct Load<'a> {
    api: Api<'a>,
    keys: &'a [NewKey],
    pid: u32,
    answered: AtomicUsize,
    kill_at: usize,
}

impl Load<'_> {
    /// Verifies keys at random, each request with its own `resource`, until `per_worker`
    /// requests are done or the server is gone. Returns what it sent and what was answered
    /// `200 VALID`.
    async fn worker(&self, name: String, per_worker: usize, seed: u64) -> (Vec<Sent>, Vec<Sent>) {
        let mut rng = Rng(seed | 1);
        let (mut sent, mut answered) = (Vec::new(), Vec::new());
        for i in 0..per_worker {
            let k = rng.below(self.keys.len() as u64) as usize;
            let resource = format!("{name}-{i}");
            sent.push((k, resource.clone()));
            let body = json!({
                "key": self.keys[k].key,
                "permission": "invoices:read",
                "action": "invoices.read",
                "resource": resource,
            });
            let request = self.api.request(Method::POST, "/v1/verify").json(&body);
            let Ok(response) = self.api.client().send_raw(request).await else {
                return (sent, answered);
            };
            let status = response.status.as_u16();
            let text = response.text;
            crate::helpers::check_answer(status, &text, &Value::Null);
            assert_eq!(status, 200, "{text}");
            let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
            assert_eq!(answer["code"], "VALID", "{answer}");
            answered.push((k, resource));
            if self.answered.fetch_add(1, Ordering::SeqCst) + 1 == self.kill_at {
                sigkill(self.pid);
            }
        }
        (sent, answered)
    }
}

/// `key.verified` rows in the database file itself (the server is not running).
async fn count_verified(db: &Path) -> i64 {
    let mut conn = connect(db).await;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events \
             WHERE kind = (SELECT id FROM audit_names WHERE value = 'key.verified')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    close(conn).await;
    count
}

async fn connect(db: &Path) -> sqlx::SqliteConnection {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions;
    SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .expect("opening the stopped server's database")
}

async fn close(conn: sqlx::SqliteConnection) {
    use sqlx::Connection;
    conn.close().await.unwrap();
}

/// What the database file says once the server has stopped: the journal position, and the
/// `key.verified` events it holds.
async fn database_state(db: &Path) -> (i64, i64) {
    let mut conn = connect(db).await;
    let (lsn,): (i64,) = sqlx::query_as("SELECT lsn FROM audit_journal WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    close(conn).await;
    (lsn, count_verified(db).await)
}

/// Runs `keyward serve --listen 127.0.0.1:0 <args>` that is expected to refuse to start:
/// returns its exit status and stderr. A server that starts listening instead is killed and
/// the test fails.
fn refused_serve(args: &[&str]) -> (ExitStatus, String) {
    let mut child = keyward()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("KEYWARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning keyward serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    loop {
        // A safety net against a hung process, not a performance threshold.
        match received.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let started = line.contains("listening on");
                text.push_str(&line);
                text.push('\n');
                if started {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("a second server started on a journal in use:\n{text}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keyward serve neither started nor exited:\n{text}");
            }
        }
    }
    let status = child.wait().expect("waiting for keyward serve");
    reader.join().unwrap();
    (status, text)
}

/// 16 concurrent verifiers across four keys; the server is SIGKILLed after a random number
/// of answers, twice. After each restart every key has at least as many `key.verified`
/// events as verifications were answered `200` (more is allowed: a request can be recorded
/// and its answer lost with the connection), never more than were sent, none twice, and
/// the chain verifies.
#[tokio::test]
async fn answered_verifications_survive_sigkill() {
    const KEYS: usize = 4;
    const WORKERS: usize = 16;
    const PER_WORKER: usize = 60;
    const ROUNDS: usize = 2;
    let mut app = spawn_process_app();
    let mut keys = Vec::new();
    for n in 0..KEYS {
        keys.push(
            app.api()
                .new_key(&format!("Journal Crash {n}"), &["invoices:read"])
                .await,
        );
    }
    let mut rng = Rng::seeded("journal crash");
    let mut sent: Vec<Sent> = Vec::new();
    let mut answered: Vec<Sent> = Vec::new();
    for round in 0..ROUNDS {
        let load = Load {
            api: app.api(),
            keys: &keys,
            pid: app.pid(),
            answered: AtomicUsize::new(0),
            kill_at: 30 + rng.below((WORKERS * PER_WORKER / 2) as u64) as usize,
        };
        let workers = (0..WORKERS).map(|w| {
            let seed = rng.next();
            load.worker(format!("r{round}-w{w}"), PER_WORKER, seed)
        });
        let done = futures_util::future::join_all(workers).await;
        let total = load.answered.load(Ordering::SeqCst);
        assert!(
            total >= load.kill_at,
            "round {round}: {total} answers, the kill was due at {}",
            load.kill_at
        );
        assert!(
            total < WORKERS * PER_WORKER,
            "round {round}: the server was killed after the load ended"
        );
        for (s, a) in done {
            sent.extend(s);
            answered.extend(a);
        }
        app.kill();
        let in_database = count_verified(&app.db_path).await;
        println!(
            "round {round}: killed after {total} answers; the database alone held {in_database} \
             of the {} verifications answered so far",
            answered.len()
        );
        app.restart();

        let api = app.api();
        for (k, key) in keys.iter().enumerate() {
            let events = verified_events(&api, &key.id).await;
            let resources: Vec<String> = events
                .iter()
                .map(|e| e["resource"].as_str().expect("a resource").to_owned())
                .collect();
            let recorded: HashSet<&String> = resources.iter().collect();
            assert_eq!(recorded.len(), resources.len(), "key {k}: an event twice");
            let acked = answered.iter().filter(|(i, _)| *i == k).count();
            let tried = sent.iter().filter(|(i, _)| *i == k).count();
            assert!(
                acked <= events.len() && events.len() <= tried,
                "key {k}: {acked} answered, {} recorded, {tried} sent",
                events.len()
            );
            for (_, resource) in answered.iter().filter(|(i, _)| *i == k) {
                assert!(
                    recorded.contains(resource),
                    "key {k}: {resource} answered 200 but not recorded"
                );
            }
            for resource in &resources {
                assert!(
                    sent.iter().any(|(i, r)| *i == k && r == resource),
                    "key {k}: {resource} recorded but never sent for this key"
                );
            }
        }
        assert_chain_valid(&api).await;
    }
}

/// SIGTERM settles the journal before the process exits: the database file alone holds every
/// verification (the journal's position is their count), so a database whose journal
/// directory is then removed serves its whole trail, and starts a new journal where the old
/// one ended.
#[tokio::test]
async fn after_a_graceful_stop_the_database_alone_is_complete() {
    const VERIFICATIONS: i64 = 40;
    let mut app = spawn_process_app();
    let key = app.api().new_key("Graceful Stop", &["invoices:read"]).await;
    for _ in 0..VERIFICATIONS {
        assert_eq!(
            app.api().verify_code(&key.key, Some("invoices:read")).await,
            "VALID"
        );
    }
    // At once: the last verifications are only in the journal when the signal arrives.
    assert!(app.terminate(), "keyward serve failed on SIGTERM");
    assert!(app.log_text().contains("keyward stopped"));
    assert_eq!(
        database_state(&app.db_path).await,
        (VERIFICATIONS, VERIFICATIONS),
        "(journal position, key.verified rows)"
    );

    let journal = default_journal(&app.db_path);
    assert!(!segments(&journal).is_empty(), "the journal was used");
    std::fs::remove_dir_all(&journal).unwrap();
    app.restart();
    let api = app.api();
    assert_eq!(
        verified_events(&api, &key.id).await.len(),
        VERIFICATIONS as usize
    );
    let before = assert_chain_valid(&api).await;
    assert_eq!(
        api.verify_code(&key.key, Some("invoices:read")).await,
        "VALID"
    );
    assert_eq!(assert_chain_valid(&api).await, before + 1);
    assert!(app.terminate(), "keyward serve failed on SIGTERM");
    assert_eq!(
        database_state(&app.db_path).await,
        (VERIFICATIONS + 1, VERIFICATIONS + 1)
    );
}

/// `KEYWARD_AUDIT_JOURNAL` puts the journal where it says, and nothing is written beside the
/// database; without it the journal is `<database file>.audit-journal`.
#[tokio::test]
async fn the_journal_goes_where_it_is_told_or_beside_the_database() {
    let elsewhere = tempfile::tempdir().unwrap();
    let told = elsewhere.path().join("journal");
    let app = spawn_process_app_env(1, &[("KEYWARD_AUDIT_JOURNAL", told.to_str().unwrap())]);
    let key = app.api().new_key("Journal Elsewhere", &[]).await;
    assert_eq!(app.api().verify_code(&key.key, None).await, "VALID");
    assert!(!segments(&told).is_empty(), "no segment in {told:?}");
    assert!(told.join("LOCK").is_file());
    assert!(
        !default_journal(&app.db_path).exists(),
        "a journal beside the database as well"
    );

    let app = spawn_process_app();
    let key = app.api().new_key("Journal Beside", &[]).await;
    assert_eq!(app.api().verify_code(&key.key, None).await, "VALID");
    let beside = default_journal(&app.db_path);
    assert!(!segments(&beside).is_empty(), "no segment in {beside:?}");
}

/// A second `keyward serve` on the journal a running server uses exits non-zero, naming the
/// journal and saying it is in use; the first server goes on. The same through
/// `--audit-journal` for a second server on another database.
#[tokio::test]
async fn a_second_server_cannot_use_a_journal_in_use() {
    let app = spawn_process_app();
    let key = app.api().new_key("First Server", &[]).await;
    let (status, stderr) = refused_serve(&["--database-url", &database_url(&app.db_path)]);
    assert!(!status.success(), "{status}: {stderr}");
    let journal = default_journal(&app.db_path);
    assert!(
        stderr.contains("in use by another process")
            && stderr.contains(&journal.display().to_string()),
        "{stderr}"
    );
    assert_eq!(app.api().verify_code(&key.key, None).await, "VALID");

    let elsewhere = tempfile::tempdir().unwrap();
    let told = elsewhere.path().join("journal");
    let told_text = told.to_str().unwrap();
    let app = spawn_process_app_env(1, &[("KEYWARD_AUDIT_JOURNAL", told_text)]);
    let other = elsewhere.path().join("other.db");
    let (status, stderr) = refused_serve(&[
        "--database-url",
        &database_url(&other),
        "--audit-journal",
        told_text,
    ]);
    assert!(!status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("in use by another process") && stderr.contains(told_text),
        "{stderr}"
    );
    let key = app.api().new_key("First Server Elsewhere", &[]).await;
    assert_eq!(app.api().verify_code(&key.key, None).await, "VALID");
    drop(app);
}

/// Verifications answered `200` before a SIGKILL all have their events afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_answered_verification() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 50;
    const KILL_AFTER: usize = 150;
    let mut app = spawn_process_app();
    let key = app.api().new_key(STRIPE, &["invoices:delete"]).await;
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    for task in 0..TASKS {
        // The root key's client, sharing the app's connection pool.
        let client = app.api().client().clone();
        let key = key.key.clone();
        let answered = answered_tx.clone();
        tokio::spawn(async move {
            for i in 0..PER_TASK {
                let resource = format!("INV-{task}-{i}");
                let sent = client
                    .send_raw(client.request(Method::POST, "/v1/verify").json(&json!({
                        "key": key,
                        "permission": "invoices:delete",
                        "action": "invoices.delete",
                        "resource": resource,
                    })))
                    .await;
                // Once the server is gone every request fails: this task is done.
                let Ok(response) = sent else { return };
                let status = response.status.as_u16();
                let Ok(body) = response.json() else {
                    return;
                };
                let _ = answered.send((resource, status, body));
            }
        });
    }
    drop(answered_tx);

    let mut answered = HashSet::new();
    let mut killed = false;
    while let Some((resource, status, body)) = answered_rx.recv().await {
        assert_eq!(status, 200, "{resource}: {body}");
        assert_eq!(body["code"], "VALID", "{resource}: {body}");
        answered.insert(resource);
        if answered.len() == KILL_AFTER {
            app.kill();
            killed = true;
        }
    }
    assert!(
        killed,
        "only {} verifications were answered",
        answered.len()
    );
    assert!(
        answered.len() < TASKS * PER_TASK,
        "the server was killed after the load ended"
    );

    app.restart();
    let api = app.api();
    let recorded = export(&api, "kind=key.verified").await;
    let resources: Vec<String> = recorded
        .iter()
        .map(|e| text(e, "resource").to_owned())
        .collect();
    let recorded_set: HashSet<String> = resources.iter().cloned().collect();
    assert_eq!(
        recorded_set.len(),
        resources.len(),
        "an event recorded twice"
    );
    let lost: Vec<&String> = answered.difference(&recorded_set).collect();
    assert!(lost.is_empty(), "answered 200 but not recorded: {lost:?}");
    let sent: HashSet<String> = (0..TASKS)
        .flat_map(|t| (0..PER_TASK).map(move |i| format!("INV-{t}-{i}")))
        .collect();
    assert!(recorded_set.is_subset(&sent));
    let all = events(&api, "").await;
    assert_intact(&chain(&api).await, all.len());

    // The chain continues from where the crash left it.
    verify(
        &api,
        &key.key,
        "invoices:delete",
        "invoices.delete",
        "INV-after",
    )
    .await;
    assert_intact(&chain(&api).await, all.len() + 1);
}
