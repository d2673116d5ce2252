//! Starting servers: `spawn_app()` runs the real `keyward` binary on port 0 with a fresh
//! temporary SQLite database (workspaces made by `keyward init --json` first), and
//! `keyward()` builds any other command of the binary.
//!
//! The server is a child process, so tests can SIGKILL it (`kill`) and start it again on the
//! same database (`restart`). Its stderr (`KEYWARD_LOG=trace`) is captured for the whole life
//! of every process the app starts, and the address is learnt from its `listening on` line:
//! no sleeps, no guessed ports.

use super::data::contains_bytes;
use super::http::Api;
use super::secrets::{assert_no_secret_in, remember_secret};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
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

/// SIGKILLs process `pid` from another thread than the one owning its `Child` (a load task
/// that kills the server mid-request, at an exact acknowledged operation).
pub fn sigkill(pid: u32) {
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("running kill -KILL");
    assert!(killed.success());
}

/// A `keyward` command with none of the developer's `KEYWARD_*` variables.
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
        Api::new(&self.client, &self.address, Some(token))
    }

    /// The API with no `Authorization` header.
    pub fn anonymous(&self) -> Api<'_> {
        Api::new(&self.client, &self.address, None)
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
