//! Crash safety under load: workers create, verify, revoke and rotate keys concurrently while
//! the server is SIGKILLed at a random moment (after a random number of acknowledged
//! operations), three times on the same database. After each crash SQLite's integrity check
//! passes, and after each restart everything acknowledged is there, nothing unacknowledged is
//! half-visible in a way that breaks a rule, and the audit chain verifies.

use crate::helpers::{sigkill, spawn_app, Api, NewKey, Rng, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const WORKERS: usize = 6;
const ROUNDS: usize = 3;

/// What the server acknowledged about one key.
#[derive(Debug, Clone)]
enum State {
    Valid,
    Revoked,
    /// Rotated with no grace period: this key is revoked, the new one valid.
    Rotated(NewKey),
    /// A change was in flight when the server died: either outcome is allowed.
    Uncertain,
}

#[derive(Debug, Clone)]
struct Record {
    key: NewKey,
    state: State,
}

/// A request that may fail because the server was killed: `None` then.
async fn try_send(api: &Api<'_>, method: Method, path: &str, body: &Value) -> Option<(u16, Value)> {
    let response = api.request(method, path).json(body).send().await.ok()?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.ok()?;
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

struct Load<'a> {
    api: Api<'a>,
    pid: u32,
    acked: AtomicUsize,
    kill_at: usize,
    records: Mutex<Vec<Record>>,
}

impl Load<'_> {
    /// Counts an acknowledged operation; the one that reaches `kill_at` SIGKILLs the server.
    fn ack(&self) {
        if self.acked.fetch_add(1, Ordering::SeqCst) + 1 == self.kill_at {
            sigkill(self.pid);
        }
    }

    fn push(&self, record: Record) -> usize {
        let mut records = self.records.lock().unwrap();
        records.push(record);
        records.len() - 1
    }

    fn set(&self, at: usize, state: State) {
        self.records.lock().unwrap()[at].state = state;
    }

    async fn worker(&self, seed: u64) {
        let mut rng = Rng(seed | 1);
        loop {
            let body = json!({"name": format!("crash {}", rng.next()), "permissions": ["a:b"]});
            let Some((201, created)) = try_send(&self.api, Method::POST, "/v1/keys", &body).await
            else {
                return;
            };
            let key = NewKey::from(&created);
            let id = key.id.clone();
            let at = self.push(Record {
                key: key.clone(),
                state: State::Valid,
            });
            self.ack();
            let verify = json!({"key": key.key, "permission": "a:b"});
            match try_send(&self.api, Method::POST, "/v1/verify", &verify).await {
                Some((200, answer)) => assert_eq!(answer["code"], "VALID", "{answer}"),
                _ => return,
            }
            self.ack();
            match rng.below(3) {
                0 => {
                    self.set(at, State::Uncertain);
                    let path = format!("/v1/keys/{id}/revoke");
                    let Some((200, _)) = try_send(&self.api, Method::POST, &path, &json!({})).await
                    else {
                        return;
                    };
                    self.set(at, State::Revoked);
                    self.ack();
                }
                1 => {
                    self.set(at, State::Uncertain);
                    let path = format!("/v1/keys/{id}/rotate");
                    let body = json!({"grace_period_seconds": 0});
                    let Some((201, new)) = try_send(&self.api, Method::POST, &path, &body).await
                    else {
                        return;
                    };
                    self.set(at, State::Rotated(NewKey::from(&new)));
                    self.ack();
                }
                _ => {}
            }
        }
    }
}

async fn integrity_check(app: &TestApp) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection, Row};
    let mut db = SqliteConnectOptions::new()
        .filename(&app.db_path)
        .connect()
        .await
        .expect("opening the killed server's database");
    let row = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "ok");
    db.close().await.unwrap();
}

async fn assert_acknowledged(app: &TestApp, records: &[Record]) {
    let api = app.api();
    for record in records {
        let code = api.verify_code(&record.key.key, Some("a:b")).await;
        api.show_key(&record.key.id).await.expect(200);
        match &record.state {
            State::Valid => assert_eq!(code, "VALID", "{record:?}"),
            State::Revoked => assert_eq!(code, "REVOKED", "{record:?}"),
            State::Rotated(new) => {
                assert_ne!(code, "VALID", "{record:?}");
                assert_eq!(api.verify_code(&new.key, Some("a:b")).await, "VALID");
                assert_eq!(
                    api.show_key(&record.key.id).await.expect(200)["replaced_by"],
                    json!(new.id)
                );
            }
            State::Uncertain => {}
        }
    }
    let check = api.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(check["valid"], json!(true), "{check}");
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_under_load() {
    let mut app = spawn_app();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash safety seed: {seed}");
    let mut rng = Rng(seed | 1);
    let mut all: Vec<Record> = Vec::new();
    for round in 0..ROUNDS {
        let pid = app.pid();
        let load = Load {
            api: app.api(),
            pid,
            acked: AtomicUsize::new(0),
            kill_at: 20 + rng.below(100) as usize,
            records: Mutex::new(Vec::new()),
        };
        let seeds: Vec<u64> = (0..WORKERS).map(|_| rng.next()).collect();
        futures_util::future::join_all(seeds.into_iter().map(|s| load.worker(s))).await;
        assert!(
            load.acked.load(Ordering::SeqCst) >= load.kill_at,
            "round {round}: the workers stopped before the kill"
        );
        all.extend(load.records.into_inner().unwrap());
        app.kill();
        integrity_check(&app).await;
        app.restart();
        assert_acknowledged(&app, &all).await;
    }
    assert!(all.len() >= ROUNDS * 5, "too little load: {}", all.len());
}
