//! `spawn_app()`: the real `keyward` binary on port 0 with a fresh temporary SQLite database,
//! plus typed helpers for its HTTP API.
//!
//! The server is a child process, so tests can SIGKILL it (`kill`) and start it again on the
//! same database (`restart`). Its stderr (`KEYWARD_LOG=trace`) is captured for the whole life
//! of every process the app starts, and the address is learnt from its `listening on` line:
//! no sleeps, no guessed ports.

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");
/// Issuer prefix given to every workspace the tests create.
pub const PREFIX: &str = "bos";
/// Generous upper bound for the server to print its address; only reached when it is broken.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Environment variables of the binary that must not leak in from the developer's shell.
const KEYWARD_ENV: [&str; 6] = [
    "KEYWARD_URL",
    "KEYWARD_ROOT_KEY",
    "KEYWARD_DATABASE_URL",
    "KEYWARD_LISTEN",
    "KEYWARD_LOG",
    // Every server of the suite would share one journal, and all but one refuse to start.
    "KEYWARD_AUDIT_JOURNAL",
];

/// A workspace made by `keyward init --json`.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub root_key: String,
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the running server (changes on `restart`).
    pub address: String,
    pub client: reqwest::Client,
    pub workspaces: Vec<Workspace>,
    pub db_path: PathBuf,
    db_url: String,
    child: Option<Child>,
    reader: Option<JoinHandle<()>>,
    /// Everything every server process of this app wrote to stderr.
    log: Arc<Mutex<Vec<u8>>>,
    /// Notified whenever `log` grows.
    log_grew: Arc<Condvar>,
    /// Extra environment of every server process (e.g. `KEYWARD_HEADER_TIMEOUT_SECS`).
    env: Vec<(String, String)>,
    // Last, so the database outlives the child that is killed in `drop`.
    _dir: TempDir,
}

/// One workspace, server running.
pub fn spawn_app() -> TestApp {
    spawn_app_with(1)
}

/// `workspaces` workspaces (each by its own `keyward init`, before `serve`), server running.
///
/// Blocking (it waits for the child's output), which is fine at the start of a test.
pub fn spawn_app_with(workspaces: usize) -> TestApp {
    spawn_app_env(workspaces, &[])
}

/// `workspaces` workspaces, server running with `env` added to its environment.
pub fn spawn_app_env(workspaces: usize, env: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let db_path = dir.path().join("keyward.db");
    let db_url = format!("sqlite://{}", db_path.display());
    let workspaces = (0..workspaces)
        .map(|i| init_workspace(&db_url, &format!("Test workspace {i}")))
        .collect();
    let client = reqwest::Client::builder()
        // A safety net against a hung server, not a performance threshold.
        .timeout(Duration::from_secs(120))
        .build()
        .expect("building the HTTP client");
    let mut app = TestApp {
        address: String::new(),
        client,
        workspaces,
        db_path,
        db_url,
        child: None,
        reader: None,
        log: Arc::new(Mutex::new(Vec::new())),
        log_grew: Arc::new(Condvar::new()),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        _dir: dir,
    };
    app.start();
    app
}

fn init_workspace(db_url: &str, name: &str) -> Workspace {
    let out = keyward()
        .args([
            "init",
            "--database-url",
            db_url,
            "--workspace",
            name,
            "--prefix",
            PREFIX,
            "--json",
        ])
        .output()
        .expect("running keyward init");
    assert!(
        out.status.success(),
        "keyward init failed: {}",
        describe(&out)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "keyward init --json printed no JSON ({e}): {}",
            describe(&out)
        )
    });
    let field = |name: &str| {
        parsed[name]
            .as_str()
            .unwrap_or_else(|| panic!("keyward init --json lacks {name:?}: {parsed}"))
            .to_owned()
    };
    let root_key = field("root_key");
    remember_secret(&root_key);
    Workspace {
        id: field("workspace_id"),
        root_key,
    }
}

/// Every key and root key any test of this binary has been given (the `key` of every `201`,
/// the root key of every `keyward init`), in every form that must never appear in an error
/// body: the plaintext, its secret part and its SHA-256 in hex.
fn secrets() -> &'static Mutex<Vec<[String; 3]>> {
    static SECRETS: OnceLock<Mutex<Vec<[String; 3]>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

pub fn remember_secret(key: &str) {
    use sha2::{Digest, Sha256};
    let forms = [
        key.to_owned(),
        secret_part(key).to_owned(),
        hex::encode(Sha256::digest(key.as_bytes())),
    ];
    secrets()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(forms);
}

/// Asserts that an error body carries no secret any test has seen (case-insensitively for
/// the hex digest).
#[track_caller]
pub fn assert_no_secret_in(context: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for [plain, part, digest] in secrets().lock().unwrap_or_else(|p| p.into_inner()).iter() {
        assert!(
            !text.contains(plain.as_str()) && !text.contains(part.as_str()),
            "{context} carries a key or its secret part: {text}"
        );
        assert!(
            !lower.contains(digest.as_str()),
            "{context} carries a key's hash: {text}"
        );
    }
}

/// A `keyward` command with none of the developer's `KEYWARD_*` variables.
/// SIGKILLs process `pid` from another thread than the one owning its `Child` (a load task
/// that kills the server mid-request, at an exact acknowledged operation).
pub fn sigkill(pid: u32) {
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("running kill -KILL");
    assert!(killed.success());
}

pub fn keyward() -> Command {
    let mut cmd = Command::new(BIN);
    for var in KEYWARD_ENV {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").stdin(Stdio::null());
    cmd
}

/// Status, stdout and stderr of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The address in a line such as `INFO keyward listening on http://127.0.0.1:41234 keys=0`.
fn listening_address(line: &str) -> Option<String> {
    const MARK: &str = "listening on http://";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

impl TestApp {
    /// Starts `keyward serve` on this app's database and waits for its address.
    fn start(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut child = keyward()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &self.db_url,
            ])
            .env("KEYWARD_LOG", "trace")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning keyward serve");
        let stderr = child.stderr.take().expect("the child's stderr is piped");
        let (tx, rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        let log_grew = Arc::clone(&self.log_grew);
        // Reads until the process is gone, so the captured log is complete after `kill`.
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            let mut tx = Some(tx);
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&line);
                log_grew.notify_all();
                if let Some(addr) = listening_address(&String::from_utf8_lossy(&line)) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        self.child = Some(child);
        self.reader = Some(reader);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => self.address = format!("http://{addr}"),
            Err(e) => {
                self.kill();
                panic!(
                    "keyward serve did not report its address ({e}); its stderr:\n{}",
                    self.log_text()
                );
            }
        }
    }

    /// SIGKILL (`Child::kill` on unix): no graceful shutdown, no WAL checkpoint. Waits for the
    /// process and for the end of its stderr.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// SIGTERM, then wait for the graceful shutdown to finish; returns whether the process
    /// exited successfully.
    pub fn terminate(&mut self) -> bool {
        if self.child.is_some() {
            self.send_term();
        }
        self.wait_exit()
    }

    /// Sends SIGTERM and returns at once; [`TestApp::wait_exit`] waits for the exit.
    pub fn send_term(&self) {
        let child = self.child.as_ref().expect("the server is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits for the server process to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        let mut success = false;
        if let Some(mut child) = self.child.take() {
            success = child.wait().expect("waiting for keyward serve").success();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        success
    }

    /// Blocks until the server's log contains `needle` (woken by every new log line, no
    /// polling); panics after a generous safety bound.
    pub fn wait_for_log(&self, needle: &str) {
        let guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, timeout) = self
            .log_grew
            .wait_timeout_while(guard, START_TIMEOUT, |log| {
                !contains_bytes(log, needle.as_bytes())
            })
            .unwrap_or_else(|p| p.into_inner());
        assert!(
            !timeout.timed_out(),
            "the server never logged {needle:?}; its log:\n{}",
            String::from_utf8_lossy(&guard)
        );
    }

    /// Process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// `host:port` of the running server, for raw TCP clients.
    pub fn socket_addr(&self) -> &str {
        self.address.trim_start_matches("http://")
    }

    /// `keyward serve` again on the same database (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        self.start();
    }

    /// Everything the server processes wrote to stderr so far.
    pub fn log(&self) -> Vec<u8> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log()).into_owned()
    }

    pub fn root_key(&self) -> &str {
        &self.workspaces[0].root_key
    }

    /// The API as workspace 0's initial root key.
    pub fn api(&self) -> Api<'_> {
        self.as_root(self.root_key())
    }

    /// The API with `token` as the bearer credential.
    pub fn as_root<'a>(&'a self, token: &str) -> Api<'a> {
        Api {
            app: self,
            token: Some(token.to_owned()),
        }
    }

    /// The API with no `Authorization` header.
    pub fn anonymous(&self) -> Api<'_> {
        Api {
            app: self,
            token: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
        // Secret hygiene across the whole suite: everything every server logged at `trace`,
        // in every test, holds none of the keys any test was given.
        if !std::thread::panicking() {
            assert_no_secret_in("the server's trace log", &self.log_text());
        }
    }
}

/// Requests to a running app with one credential.
pub struct Api<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Api<'_> {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.app.client.request(method, self.app.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        send(self.request(Method::PATCH, path).json(body)).await
    }

    /// `body` sent as is, with `Content-Type: application/json`.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        send(
            self.request(Method::POST, path)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
    }

    pub async fn create_key(&self, body: &Value) -> Answer {
        self.post("/v1/keys", body).await
    }

    /// Creates a key from `body`, asserting `201`; returns the response body.
    pub async fn create_key_ok(&self, body: &Value) -> Value {
        self.create_key(body).await.expect(201).clone()
    }

    /// Creates a key named `name` with `permissions`, asserting `201`.
    pub async fn new_key(&self, name: &str, permissions: &[&str]) -> NewKey {
        NewKey::from(
            &self
                .create_key_ok(&json!({"name": name, "permissions": permissions}))
                .await,
        )
    }

    pub async fn list_keys(&self, query: &str) -> Answer {
        self.get(&format!("/v1/keys{query}")).await
    }

    /// Every key id the list shows for `query` (`""` or `"?owner_id=…"`), following cursors.
    pub async fn list_all_ids(&self, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let join = if query.is_empty() { "?" } else { "&" };
        loop {
            let page_query = match &cursor {
                Some(c) => format!("{query}{join}limit=100&cursor={c}"),
                None => format!("{query}{join}limit=100"),
            };
            let answer = self.list_keys(&page_query).await;
            let body = answer.expect(200);
            ids.extend(key_ids(body));
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    pub async fn show_key(&self, id: &str) -> Answer {
        self.get(&format!("/v1/keys/{id}")).await
    }

    pub async fn update_key(&self, id: &str, body: &Value) -> Answer {
        self.patch(&format!("/v1/keys/{id}"), body).await
    }

    pub async fn revoke_key(&self, id: &str, reason: Option<&str>) -> Answer {
        let body = match reason {
            Some(reason) => json!({ "reason": reason }),
            None => json!({}),
        };
        self.post(&format!("/v1/keys/{id}/revoke"), &body).await
    }

    pub async fn rotate_key(&self, id: &str, grace_period_seconds: u64) -> Answer {
        self.post(
            &format!("/v1/keys/{id}/rotate"),
            &json!({ "grace_period_seconds": grace_period_seconds }),
        )
        .await
    }

    pub async fn verify(&self, key: &str, permission: Option<&str>) -> Answer {
        let body = match permission {
            Some(permission) => json!({ "key": key, "permission": permission }),
            None => json!({ "key": key }),
        };
        self.post("/v1/verify", &body).await
    }

    /// The verification `code`, asserting `200` and that `valid` agrees with it.
    pub async fn verify_code(&self, key: &str, permission: Option<&str>) -> String {
        let answer = self.verify(key, permission).await;
        let body = answer.expect(200);
        let code = body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("verify answered no code: {body}"));
        assert_eq!(
            body["valid"],
            json!(code == "VALID"),
            "`valid` disagrees with `code`: {body}"
        );
        code.to_owned()
    }

    pub async fn create_root_key(&self, name: &str, permissions: &[&str]) -> Answer {
        self.post(
            "/v1/root-keys",
            &json!({ "name": name, "permissions": permissions }),
        )
        .await
    }
}

/// A key as create answered it.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    /// The plaintext, shown only once.
    pub key: String,
    pub body: Value,
}

impl From<&Value> for NewKey {
    fn from(body: &Value) -> Self {
        let text = |field: &str| {
            body[field]
                .as_str()
                .unwrap_or_else(|| panic!("created key lacks {field:?}: {body}"))
                .to_owned()
        };
        Self {
            id: text("id"),
            key: text("key"),
            body: body.clone(),
        }
    }
}

/// What a key's body says about its settings: everything but the plaintext `key` and the
/// usage figures (`last_used_at`, `verification_count`) that every verification moves.
pub fn settings(body: &Value) -> Value {
    let mut record = body.clone();
    if let Some(object) = record.as_object_mut() {
        for moving in ["key", "last_used_at", "verification_count"] {
            object.remove(moving);
        }
    }
    record
}

/// The ids in a `GET /v1/keys` body, in order.
pub fn key_ids(list: &Value) -> Vec<String> {
    list["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("a key list without `keys`: {list}"))
        .iter()
        .map(|k| {
            k["id"]
                .as_str()
                .unwrap_or_else(|| panic!("a listed key without id: {k}"))
                .to_owned()
        })
        .collect()
}

/// A finished response: status, headers and body (parsed as JSON when it is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

/// Secret hygiene across the whole suite, for every answer a test reads (through [`send`],
/// or from the router in process): every key handed out is remembered, and no error body,
/// in any test, may carry any of them.
#[track_caller]
pub fn check_answer(status: u16, text: &str, json: &Value) {
    if status == 201 {
        if let Some(key) = json["key"].as_str() {
            remember_secret(key);
        }
    }
    if status >= 400 {
        assert_no_secret_in(&format!("a {status} body"), text);
    }
}

pub async fn send(request: RequestBuilder) -> Answer {
    let response = request
        .send()
        .await
        .expect("the request reached the server");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("reading the response body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    check_answer(status.as_u16(), &text, &json);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

impl Answer {
    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    /// Asserts the status and the error body `{"error": {"code", "message"}}` (and nothing
    /// else); returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        self.expect(status);
        let content_type = self.header("content-type");
        assert!(
            content_type.starts_with("application/json"),
            "an error must be JSON, got Content-Type {content_type:?}: {}",
            self.text
        );
        let object = self
            .json
            .as_object()
            .unwrap_or_else(|| panic!("error body is not an object: {}", self.text));
        assert_eq!(
            object.len(),
            1,
            "error body has more than `error`: {}",
            self.text
        );
        let error = self.json["error"]
            .as_object()
            .unwrap_or_else(|| panic!("error body lacks an `error` object: {}", self.text));
        assert_eq!(
            error.len(),
            2,
            "`error` must hold exactly code and message: {}",
            self.text
        );
        assert_eq!(
            self.json["error"]["code"],
            json!(code),
            "error code; body: {}",
            self.text
        );
        let message = self.json["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error without a message: {}", self.text));
        assert!(!message.trim().is_empty(), "empty error message");
        message.to_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_no_store(&self) {
        assert_eq!(
            self.header("cache-control"),
            "no-store",
            "a response carrying a key must not be cached: {}",
            self.text
        );
    }
}

/// The part of a key after its last `_`: the random body and the checksum.
pub fn secret_part(key: &str) -> &str {
    key.rsplit_once('_').map_or(key, |(_, secret)| secret)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The published checksum: CRC-32 (IEEE) of `<prefix>_<body>` in base62, 6 digits, most
/// significant first, left-padded with `0`. Written here independently of the server's code.
pub fn checksum(signed: &str) -> String {
    let mut n = crc32fast::hash(signed.as_bytes());
    let mut digits = [b'0'; 6];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// A key that is well formed with a correct checksum but that no server issued.
pub fn unissued_key(prefix: &str) -> String {
    let signed = format!("{prefix}_ThisBodyWasNeverIssuedByAServer42");
    let sum = checksum(&signed);
    format!("{signed}{sum}")
}

/// Asserts `key` has the public format: `<prefix>_<≥32 base62><6-character checksum>`.
#[track_caller]
pub fn assert_key_format(key: &str, prefix: &str) {
    let tail = key
        .strip_prefix(prefix)
        .and_then(|t| t.strip_prefix('_'))
        .unwrap_or_else(|| panic!("{key:?} does not start with {prefix}_"));
    assert!(tail.len() >= 38, "body and checksum too short in {key:?}");
    assert!(
        tail.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{key:?} is not base62 after the prefix"
    );
    let (signed, sum) = key.split_at(key.len() - 6);
    assert_eq!(sum, checksum(signed), "checksum of {key:?}");
}

/// The same key with its last character changed: a checksum failure.
pub fn corrupt_checksum(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    let last = bytes.last_mut().expect("a non-empty key");
    *last = if *last == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("still ASCII")
}

/// The bytes of a file, or nothing if it does not exist.
pub fn read_if_exists(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

/// Whether `needle` occurs in `haystack`, byte for byte.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// xorshift64*: enough randomness for kill points and choices, seeded and printed so a
/// failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the clock; prints the seed.
    pub fn seeded(what: &str) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        println!("{what} seed: {seed}");
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
