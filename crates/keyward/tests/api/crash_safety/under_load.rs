//! Crash safety under load: workers create, verify, revoke and rotate keys concurrently while
//! the server is SIGKILLed at a random moment (after a random number of acknowledged
//! operations), three times on the same database. Until the kill every call must get its
//! documented answer (any other status, or a connection failure before the kill, fails the
//! test). After each crash SQLite's integrity check passes, and after each restart everything
//! acknowledged is there, what was in flight either landed whole or not at all (with its
//! audit event exactly when it landed), and the audit chain verifies.

use crate::helpers::{sigkill, spawn_process_app, Api, NewKey, Rng, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
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
    /// A revocation was in flight when the server died: revoked (with its event) or not.
    RevokeInFlight,
    /// A rotation was in flight when the server died: rotated (with its event and a live
    /// successor) or untouched.
    RotateInFlight,
}

#[derive(Debug, Clone)]
struct Record {
    key: NewKey,
    state: State,
}

/// A request that may fail because the server was killed: `None` then.
async fn try_send(api: &Api<'_>, method: Method, path: &str, body: &Value) -> Option<(u16, Value)> {
    let request = api.request(method, path).json(body);
    let response = api.client().send_raw(request).await.ok()?;
    Some((
        response.status.as_u16(),
        serde_json::from_str(&response.text).unwrap_or(Value::Null),
    ))
}

struct Load<'a> {
    api: Api<'a>,
    pid: u32,
    acked: AtomicUsize,
    kill_at: usize,
    records: Mutex<Vec<Record>>,
    /// Creates sent but never answered (the server died): each may have landed.
    creates_in_flight: AtomicUsize,
    /// Every answer that was not the documented one, and connections lost before the kill.
    unexpected: Mutex<Vec<String>>,
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

    /// Sends one call; `Some(body)` when it got `status`. Any other answer is recorded as
    /// unexpected, and so is a lost connection while the server should still be alive (the
    /// kill is sent only after `acked` reaches `kill_at`).
    async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: &Value,
        status: u16,
    ) -> Option<Value> {
        match try_send(&self.api, method, path, body).await {
            Some((got, answer)) if got == status => Some(answer),
            Some((got, answer)) => {
                self.unexpected
                    .lock()
                    .unwrap()
                    .push(format!("{what} answered {got}: {answer}"));
                None
            }
            None => {
                if self.acked.load(Ordering::SeqCst) < self.kill_at {
                    self.unexpected
                        .lock()
                        .unwrap()
                        .push(format!("{what}: connection lost before the kill"));
                }
                None
            }
        }
    }

    async fn worker(&self, seed: u64) {
        let mut rng = Rng(seed | 1);
        loop {
            let body = json!({"name": format!("crash {}", rng.next()), "permissions": ["a:b"]});
            let Some(created) = self
                .call("create", Method::POST, "/v1/keys", &body, 201)
                .await
            else {
                self.creates_in_flight.fetch_add(1, Ordering::SeqCst);
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
            match self
                .call("verify", Method::POST, "/v1/verify", &verify, 200)
                .await
            {
                Some(answer) => assert_eq!(answer["code"], "VALID", "{answer}"),
                None => return,
            }
            self.ack();
            match rng.below(3) {
                0 => {
                    self.set(at, State::RevokeInFlight);
                    let path = format!("/v1/keys/{id}/revoke");
                    if self
                        .call("revoke", Method::POST, &path, &json!({}), 200)
                        .await
                        .is_none()
                    {
                        return;
                    }
                    self.set(at, State::Revoked);
                    self.ack();
                }
                1 => {
                    self.set(at, State::RotateInFlight);
                    let path = format!("/v1/keys/{id}/rotate");
                    let body = json!({"grace_period_seconds": 0});
                    let Some(new) = self.call("rotate", Method::POST, &path, &body, 201).await
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

/// The key's audit events of `kind`.
async fn events(api: &Api<'_>, id: &str, kind: &str) -> Vec<Value> {
    let list = api
        .get(&format!("/v1/audit?key_id={id}&kind={kind}&limit=100"))
        .await;
    list.expect(200)["events"].as_array().unwrap().clone()
}

/// Checks every record against what the server acknowledged, and what was in flight against
/// the rules: all or nothing, the change and its event together. Returns every key id the
/// records account for (their own and their successors').
async fn assert_acknowledged(app: &TestApp, records: &[Record]) -> BTreeSet<String> {
    let api = app.api();
    let mut known = BTreeSet::new();
    for record in records {
        let id = &record.key.id;
        known.insert(id.clone());
        let code = api.verify_code(&record.key.key, Some("a:b")).await;
        let shown = api.show_key(id).await.expect(200).clone();
        let revocations = events(&api, id, "key.revoked").await.len();
        let rotations = events(&api, id, "key.rotated").await;
        match &record.state {
            State::Valid => assert_eq!(code, "VALID", "{record:?}"),
            State::Revoked => assert_eq!(code, "REVOKED", "{record:?}"),
            State::Rotated(new) => {
                assert_ne!(code, "VALID", "{record:?}");
                assert_eq!(api.verify_code(&new.key, Some("a:b")).await, "VALID");
                assert_eq!(shown["replaced_by"], json!(new.id));
                known.insert(new.id.clone());
            }
            State::RevokeInFlight => {
                let landed = code == "REVOKED";
                assert!(landed || code == "VALID", "{code}: {record:?}");
                let status = if landed { "revoked" } else { "active" };
                assert_eq!(shown["status"], status, "{code} but {shown}");
                assert_eq!(
                    revocations,
                    usize::from(landed),
                    "{code}: the revocation and its event go together"
                );
            }
            State::RotateInFlight => match shown["replaced_by"].as_str() {
                None => {
                    assert_eq!(code, "VALID", "not rotated, so untouched: {shown}");
                    assert!(
                        rotations.is_empty(),
                        "a rotation event without the rotation: {rotations:?}"
                    );
                }
                Some(new_id) => {
                    assert_ne!(code, "VALID", "rotated with no grace: {shown}");
                    let new = api.show_key(new_id).await.expect(200).clone();
                    assert_eq!(new["status"], "active", "the successor of {id}: {new}");
                    assert_eq!(new["permissions"], shown["permissions"], "{new}");
                    assert_eq!(rotations.len(), 1, "the rotation and its event go together");
                    let detail = rotations[0]["detail"].as_str().unwrap_or_default();
                    assert!(detail.contains(new_id), "{detail}");
                    known.insert(new_id.to_owned());
                }
            },
        }
        match &record.state {
            State::Valid | State::Rotated(_) | State::RotateInFlight => {
                assert_eq!(revocations, 0, "{record:?}")
            }
            State::Revoked => assert_eq!(revocations, 1, "{record:?}"),
            State::RevokeInFlight => {}
        }
    }
    let check = api.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(check["valid"], json!(true), "{check}");
    known
}

/// Keys the records do not account for can only be creates that were in flight at a kill,
/// whole (shown, active, with the name and permissions sent).
async fn assert_no_stray_keys(app: &TestApp, known: &BTreeSet<String>, in_flight: usize) {
    let api = app.api();
    let stray: Vec<String> = api
        .list_all_ids("")
        .await
        .into_iter()
        .filter(|id| !known.contains(id))
        .collect();
    assert!(
        stray.len() <= in_flight,
        "{} keys nobody created or had in flight: {stray:?}",
        stray.len()
    );
    for id in stray {
        let shown = api.show_key(&id).await.expect(200).clone();
        assert!(
            shown["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("crash "),
            "{shown}"
        );
        assert_eq!(shown["permissions"], json!(["a:b"]), "{shown}");
        assert_eq!(shown["status"], "active", "{shown}");
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_under_load() {
    let mut app = spawn_process_app();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash safety seed: {seed}");
    let mut rng = Rng(seed | 1);
    let mut all: Vec<Record> = Vec::new();
    let mut creates_in_flight = 0;
    for round in 0..ROUNDS {
        let pid = app.pid();
        let load = Load {
            api: app.api(),
            pid,
            acked: AtomicUsize::new(0),
            kill_at: 20 + rng.below(100) as usize,
            records: Mutex::new(Vec::new()),
            creates_in_flight: AtomicUsize::new(0),
            unexpected: Mutex::new(Vec::new()),
        };
        let seeds: Vec<u64> = (0..WORKERS).map(|_| rng.next()).collect();
        futures_util::future::join_all(seeds.into_iter().map(|s| load.worker(s))).await;
        let unexpected = load.unexpected.into_inner().unwrap();
        assert!(unexpected.is_empty(), "round {round}: {unexpected:#?}");
        assert!(
            load.acked.load(Ordering::SeqCst) >= load.kill_at,
            "round {round}: the workers stopped before the kill"
        );
        creates_in_flight += load.creates_in_flight.into_inner();
        all.extend(load.records.into_inner().unwrap());
        app.kill();
        integrity_check(&app).await;
        app.restart();
        let known = assert_acknowledged(&app, &all).await;
        assert_no_stray_keys(&app, &known, creates_in_flight).await;
    }
    assert!(all.len() >= ROUNDS * 5, "too little load: {}", all.len());
}
