//! A `keyward serve` node in process (`keyward::serve`, as the suite's other in-process
//! servers run) on a database URL of the test's choosing, so several share one database.
//! Dropping it stops it and checks that its log holds no secret the test handed out.

use crate::helpers::assert_no_secret_in;
use crate::helpers::in_process::{self, InProcess};
use crate::helpers::log_capture::{self, AppLog};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous bound for a node to start listening; only reached when it is broken.
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct ServeNode {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    server: Option<InProcess>,
    id: u64,
    log: Arc<AppLog>,
}

impl ServeNode {
    /// Starts `keyward serve --database-url <db_url>` and waits until it listens.
    pub fn start(db_url: &str) -> ServeNode {
        let (id, log) = log_capture::register();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let server = InProcess::start(id, in_process::config(db_url, &[]), listener);
        let started = Instant::now();
        let mut guard = log.bytes.lock().unwrap_or_else(|p| p.into_inner());
        while !String::from_utf8_lossy(&guard).contains("listening on http://") {
            assert!(
                !server.finished() && started.elapsed() < START_TIMEOUT,
                "the node did not start; its log:\n{}",
                String::from_utf8_lossy(&guard)
            );
            guard = log
                .grew
                .wait_timeout(guard, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(guard);
        ServeNode {
            address,
            server: Some(server),
            id,
            log,
        }
    }

    /// Everything the node logged.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log.since(0)).into_owned()
    }
}

impl Drop for ServeNode {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        log_capture::unregister(self.id);
        if !std::thread::panicking() {
            assert_no_secret_in("a node's trace log", &self.log_text());
        }
    }
}
