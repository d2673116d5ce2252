//! The log of in-process servers: one global `tracing` subscriber at `trace`, installed once,
//! formats every event as `keyward serve` does on stderr and routes the line by the thread
//! that emitted it. Each in-process server runs on threads named `kw-app-<id>`, so its lines
//! land in that server's [`AppLog`]; every other line (the journal writer, SQLite's workers,
//! the tests' own clients) lands in one shared log, which every server's test also searches
//! for secrets, from the moment the server started.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Prefix of the names of every thread an in-process server runs on.
pub const THREAD_PREFIX: &str = "kw-app-";

/// A growing log and a condition variable notified whenever it grows.
#[derive(Default)]
pub struct AppLog {
    pub bytes: Mutex<Vec<u8>>,
    pub grew: Condvar,
}

impl AppLog {
    pub fn append(&self, line: &[u8]) {
        self.bytes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(line);
        self.grew.notify_all();
    }

    pub fn len(&self) -> usize {
        self.bytes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Everything from byte `from` on.
    pub fn since(&self, from: usize) -> Vec<u8> {
        let bytes = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        bytes.get(from..).unwrap_or_default().to_vec()
    }
}

struct Routes {
    apps: Mutex<HashMap<u64, Arc<AppLog>>>,
    shared: Arc<AppLog>,
}

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let routes = Routes {
            apps: Mutex::new(HashMap::new()),
            shared: Arc::new(AppLog::default()),
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("trace"))
            .with_writer(Router)
            .with_ansi(false)
            .finish();
        // Only the first caller installs it; nothing else in the test binary does.
        let _ = tracing::subscriber::set_global_default(subscriber);
        routes
    })
}

/// The log lines of threads named nothing an app registered.
pub fn shared() -> Arc<AppLog> {
    Arc::clone(&routes().shared)
}

/// A new id for a server's threads (`kw-app-<id>`) and the log its lines go to.
pub fn register() -> (u64, Arc<AppLog>) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let log = Arc::new(AppLog::default());
    routes()
        .apps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, Arc::clone(&log));
    (id, log)
}

/// Stops routing lines to the log of `id` (its server has stopped for good).
pub fn unregister(id: u64) {
    routes()
        .apps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
}

/// The log a line written on this thread belongs to.
fn current_log() -> Arc<AppLog> {
    let routes = routes();
    let id = std::thread::current()
        .name()
        .and_then(|name| name.strip_prefix(THREAD_PREFIX))
        .and_then(|id| id.parse::<u64>().ok());
    id.and_then(|id| {
        routes
            .apps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    })
    .unwrap_or_else(|| Arc::clone(&routes.shared))
}

struct Router;

/// One formatted event: `fmt` writes each event whole, then drops the writer.
struct Line {
    log: Arc<AppLog>,
    bytes: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.bytes.is_empty() {
            self.log.append(&self.bytes);
        }
    }
}

impl<'a> MakeWriter<'a> for Router {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            log: current_log(),
            bytes: Vec::new(),
        }
    }
}
