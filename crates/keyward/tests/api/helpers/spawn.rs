//! Starting servers. `spawn_app()` starts `keyward::serve` (the function `keyward serve`
//! runs) in this process, on a loopback listener bound first, with a fresh temporary SQLite
//! database whose workspaces `keyward::create_workspace` (what `keyward init` does) made.
//! `spawn_process_app()` runs the real binary instead, for tests where the process is the
//! point: SIGKILL (`kill`, then `restart` on the same database), SIGTERM, its pid. `keyward()`
//! builds any other command of the binary.
//!
//! Either way the server logs at `trace` and its whole log is kept: a child's stderr, read
//! for the whole life of every process the app starts, or the lines of the in-process
//! server's threads ([`super::log_capture`]). Addresses are known before the first request:
//! a bound listener, or the child's `listening on` line. No sleeps, no guessed ports.

use super::data::contains_bytes;
use super::http::{with_token, Api};
use super::in_process::{self, InProcess};
use super::log_capture::{self, AppLog};
use super::secrets::{assert_no_secret_in, remember_secret};
use keyward_client::Client;
use serde_json::Value;
use std::borrow::Cow;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");
/// Issuer prefix given to every workspace the tests create.
pub const PREFIX: &str = "bos";
/// Generous upper bound for the server to start listening; only reached when it is broken.
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

/// A workspace of the app: made by `keyward init --json`, or in process as it makes one.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub root_key: String,
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the running server (changes on `restart`).
    pub address: String,
    /// The running server's clients (rebuilt on `restart`, for the new address).
    clients: Option<Clients>,
    pub workspaces: Vec<Workspace>,
    pub db_path: PathBuf,
    db_url: String,
    server: Option<Server>,
    /// In process: the id of the server's threads, `kw-app-<id>`.
    in_process: Option<u64>,
    /// Everything every server of this app logged.
    log: Arc<AppLog>,
    /// How far the log of every other thread had grown when this app started (its secret
    /// check covers everything from there).
    shared_log_from: usize,
    /// Extra environment of every server (e.g. `KEYWARD_HEADER_TIMEOUT_SECS`).
    env: Vec<(String, String)>,
    // Last, so the database outlives the server that is stopped in `drop`.
    _dir: TempDir,
}

/// One `keyward-client` per server address, and the initial root key's copy of it (sharing
/// its connection pool) for the calls most tests make.
struct Clients {
    anonymous: Client,
    root: Option<Client>,
}

/// A running server: a child process with the thread reading its stderr, or in process.
enum Server {
    Process {
        child: Child,
        reader: JoinHandle<()>,
    },
    InProcess(InProcess),
}

/// One workspace, server running (in process).
pub fn spawn_app() -> TestApp {
    spawn_app_with(1)
}

/// `workspaces` workspaces (each made as `keyward init` makes one, before `serve`), server
/// running in process.
///
/// Blocking (it waits for the workspaces and the server's start), which is fine at the start
/// of a test.
pub fn spawn_app_with(workspaces: usize) -> TestApp {
    spawn_app_env(workspaces, &[])
}

/// `workspaces` workspaces, server running in process, configured as `keyward serve` with
/// `env` in its environment would be.
pub fn spawn_app_env(workspaces: usize, env: &[(&str, &str)]) -> TestApp {
    spawn(workspaces, env, true)
}

/// One workspace, `keyward serve` running as a child process.
pub fn spawn_process_app() -> TestApp {
    spawn_process_app_with(1)
}

/// `workspaces` workspaces (each by its own `keyward init`), `keyward serve` running as a
/// child process.
pub fn spawn_process_app_with(workspaces: usize) -> TestApp {
    spawn_process_app_env(workspaces, &[])
}

/// `workspaces` workspaces, `keyward serve` running as a child process with `env` added to
/// its environment.
pub fn spawn_process_app_env(workspaces: usize, env: &[(&str, &str)]) -> TestApp {
    spawn(workspaces, env, false)
}

/// One workspace (made by `keyward init --database-url <db_url>`), `keyward serve` running
/// as a child process on the database at `db_url` (a PostgreSQL database the test made).
pub fn spawn_process_app_at(db_url: &str) -> TestApp {
    spawn_at(Some(db_url), Workspaces::Make(1), &[], false)
}

/// `keyward serve` running as a child process on the database at `db_url`, whose
/// `workspaces` exist already (a database copied by `keyward migrate-db`).
pub fn serve_process_app_at(db_url: &str, workspaces: Vec<Workspace>) -> TestApp {
    spawn_at(Some(db_url), Workspaces::Existing(workspaces), &[], false)
}

fn spawn(workspaces: usize, env: &[(&str, &str)], in_process: bool) -> TestApp {
    spawn_at(None, Workspaces::Make(workspaces), env, in_process)
}

/// The workspaces of a new app.
enum Workspaces {
    /// This many, made before the server starts.
    Make(usize),
    /// In the database already.
    Existing(Vec<Workspace>),
}

/// On the database at `db_url`, or on a new SQLite file in the app's temporary directory.
fn spawn_at(
    db_url: Option<&str>,
    workspaces: Workspaces,
    env: &[(&str, &str)],
    in_process: bool,
) -> TestApp {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let db_path = dir.path().join("keyward.db");
    let db_url = db_url.map_or_else(|| format!("sqlite://{}", db_path.display()), str::to_owned);
    let workspaces = match workspaces {
        Workspaces::Existing(workspaces) => workspaces,
        Workspaces::Make(n) => {
            let names = (0..n).map(|i| format!("Test workspace {i}"));
            if in_process {
                names.map(|name| create_workspace(&db_url, &name)).collect()
            } else {
                names.map(|name| init_workspace(&db_url, &name)).collect()
            }
        }
    };
    let (in_process, log) = if in_process {
        let (id, log) = log_capture::register();
        (Some(id), log)
    } else {
        (None, Arc::new(AppLog::default()))
    };
    let mut app = TestApp {
        address: String::new(),
        clients: None,
        workspaces,
        db_path,
        db_url,
        server: None,
        in_process,
        log,
        shared_log_from: log_capture::shared().len(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        _dir: dir,
    };
    app.start();
    app
}

/// A workspace made in process by `keyward::create_workspace`, what `keyward init` runs (on
/// a thread of its own, since the caller may be inside a runtime).
pub fn create_workspace(db_url: &str, name: &str) -> Workspace {
    let (db_url, name) = (db_url.to_owned(), name.to_owned());
    let created = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for creating the workspace")
            .block_on(keyward::create_workspace(&db_url, &name, PREFIX))
    })
    .join()
    .expect("creating the workspace")
    .expect("creating the workspace");
    let root_key = created.root_key.expose().to_owned();
    remember_secret(&root_key);
    Workspace {
        id: created.workspace.id,
        root_key,
    }
}

/// A workspace of the app: made by `keyward init --json`, or in process as it makes one.
pub fn init_workspace(db_url: &str, name: &str) -> Workspace {
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
pub fn listening_address(line: &str) -> Option<String> {
    const MARK: &str = "listening on http://";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

impl TestApp {
    /// Starts the server on this app's database and waits until it serves.
    fn start(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        match self.in_process {
            Some(id) => self.start_in_process(id),
            None => self.start_process(),
        }
        let anonymous = Client::builder(&self.address)
            .expect("the server's address")
            // A safety net against a hung server, not a performance threshold.
            .timeout(Duration::from_secs(120))
            .build()
            .expect("building the HTTP client");
        let root = self
            .workspaces
            .first()
            .map(|workspace| with_token(&anonymous, &workspace.root_key));
        self.clients = Some(Clients { anonymous, root });
    }

    /// `keyward::serve` on a listener bound here; returns once it logged that it listens.
    fn start_in_process(&mut self, id: u64) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        self.address = format!(
            "http://{}",
            listener.local_addr().expect("the listener's address")
        );
        let config = in_process::config(&self.db_url, &self.env);
        let listening = self.log.len();
        let server = InProcess::start(id, config, listener);
        let started = std::time::Instant::now();
        let mut guard = self.log.bytes.lock().unwrap_or_else(|p| p.into_inner());
        // Woken by every new line; the timeout only notices a server that stopped silently.
        while !contains_bytes(&guard[listening..], b"listening on http://") {
            if server.finished() || started.elapsed() > START_TIMEOUT {
                drop(guard);
                let stopped = server.stop();
                panic!(
                    "keyward::serve did not start (it returned {}); its log:\n{}",
                    if stopped { "Ok" } else { "an error" },
                    self.log_text()
                );
            }
            guard = self
                .log
                .grew
                .wait_timeout(guard, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(guard);
        self.server = Some(Server::InProcess(server));
    }

    /// Starts `keyward serve` on this app's database and waits for its address.
    fn start_process(&mut self) {
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
                log.append(&line);
                if let Some(addr) = listening_address(&String::from_utf8_lossy(&line)) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        self.server = Some(Server::Process { child, reader });
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
    /// process and for the end of its stderr. Only a process can be killed: an in-process
    /// app is a test that should have used `spawn_process_app`.
    pub fn kill(&mut self) {
        match self.server.take() {
            Some(Server::Process { mut child, reader }) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
            }
            Some(Server::InProcess(server)) => {
                server.stop();
                panic!("an in-process server cannot be SIGKILLed: use spawn_process_app");
            }
            None => {}
        }
    }

    /// Graceful shutdown (SIGTERM to a process), waiting for it to finish; returns whether
    /// the server stopped successfully.
    pub fn terminate(&mut self) -> bool {
        match self.server.take() {
            Some(Server::InProcess(server)) => server.stop(),
            Some(process) => {
                self.server = Some(process);
                self.send_term();
                self.wait_exit()
            }
            None => false,
        }
    }

    /// Sends SIGTERM and returns at once; [`TestApp::wait_exit`] waits for the exit.
    pub fn send_term(&self) {
        let Some(Server::Process { child, .. }) = &self.server else {
            panic!("SIGTERM needs a running server process (spawn_process_app)");
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits for the server process to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        match self.server.take() {
            Some(Server::Process { mut child, reader }) => {
                let success = child.wait().expect("waiting for keyward serve").success();
                let _ = reader.join();
                success
            }
            Some(Server::InProcess(_)) => panic!("an in-process server exits only by terminate"),
            None => false,
        }
    }

    /// Blocks until the server's log contains `needle` (woken by every new log line, no
    /// polling); panics after a generous safety bound.
    pub fn wait_for_log(&self, needle: &str) {
        let guard = self.log.bytes.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, timeout) = self
            .log
            .grew
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
        match &self.server {
            Some(Server::Process { child, .. }) => child.id(),
            _ => panic!("no server process is running (spawn_process_app)"),
        }
    }

    /// `host:port` of the running server, for raw TCP clients.
    pub fn socket_addr(&self) -> &str {
        self.address.trim_start_matches("http://")
    }

    /// The server again on the same database: a process after `kill` (SIGKILLed if still
    /// running), in process after a graceful stop.
    pub fn restart(&mut self) {
        match self.server.take() {
            Some(Server::InProcess(server)) => {
                assert!(server.stop(), "the server did not stop cleanly");
            }
            Some(process) => {
                self.server = Some(process);
                self.kill();
            }
            None => {}
        }
        self.start();
    }

    /// Everything the app's servers logged so far.
    pub fn log(&self) -> Vec<u8> {
        self.log.since(0)
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

    /// The API with `token` as the bearer credential, over the app's connection pool.
    pub fn as_root<'a>(&'a self, token: &str) -> Api<'a> {
        let clients = self.clients();
        match &clients.root {
            Some(root) if token == self.root_key() => Api::new(Cow::Borrowed(root)),
            _ => Api::new(Cow::Owned(with_token(&clients.anonymous, token))),
        }
    }

    /// The API with no `Authorization` header.
    pub fn anonymous(&self) -> Api<'_> {
        Api::new(Cow::Borrowed(&self.clients().anonymous))
    }

    fn clients(&self) -> &Clients {
        self.clients.as_ref().expect("the server is running")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match self.server.take() {
            Some(Server::InProcess(server)) => {
                server.stop();
            }
            Some(process) => {
                self.server = Some(process);
                self.kill();
            }
            None => {}
        }
        if let Some(id) = self.in_process {
            log_capture::unregister(id);
        }
        // Secret hygiene across the whole suite: everything every server logged at `trace`,
        // in every test, holds none of the keys any test was given. In process, that is also
        // every line of threads no server owns (the journal writer, SQLite's workers) since
        // this app started.
        if !std::thread::panicking() {
            assert_no_secret_in("the server's trace log", &self.log_text());
            if self.in_process.is_some() {
                let shared = log_capture::shared().since(self.shared_log_from);
                assert_no_secret_in(
                    "the trace log of threads no server owns",
                    &String::from_utf8_lossy(&shared),
                );
            }
        }
    }
}
