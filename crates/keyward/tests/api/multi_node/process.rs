//! A `keyward serve` process on a PostgreSQL database, working in a directory of its own (its
//! local disk, as a container has one), so a test can SIGKILL it, delete that directory and
//! start it again.

use crate::helpers::{keyward, listening_address};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Generous: only reached when the server is broken.
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct ProcessNode {
    child: Child,
    reader: Option<JoinHandle<()>>,
    pub url: String,
    /// Its stderr, for failure messages.
    log: Arc<Mutex<String>>,
}

impl ProcessNode {
    /// `keyward serve --database-url <db_url>` with `dir` as its working directory.
    pub fn start(db_url: &str, dir: &Path) -> Self {
        let mut child = keyward()
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", db_url])
            .current_dir(dir)
            .env("KEYWARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning keyward serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let kept = log.clone();
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = listening_address(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(address);
                    }
                }
                let mut log = kept.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut node = Self {
            child,
            reader: Some(reader),
            url: String::new(),
            log,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(address) => node.url = format!("http://{address}"),
            Err(e) => {
                node.kill();
                panic!("keyward serve did not start ({e}):\n{}", node.log());
            }
        }
        node
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGKILL, then waits for the process and the end of its stderr.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A node's local directory: removed whole and made again, empty, as a replaced container's.
pub fn replace_directory(dir: &Path) -> PathBuf {
    std::fs::remove_dir_all(dir).expect("deleting the node's directory");
    std::fs::create_dir(dir).expect("a new, empty directory");
    dir.to_path_buf()
}
