//! The one piece of shared state every handler receives.

use crate::anchors::Anchorer;
use crate::index::KeyIndex;
use crate::limits::RateLimiter;
use crate::usage::UsageTracker;
use keyward_core::{Clock, KeyHash, RootKey, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How often an unknown root key may trigger a reload of root keys from storage.
const ROOT_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Cloned for every request (axum hands each handler its own copy), so it is one `Arc`:
/// one reference count to bump instead of one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub index: Arc<KeyIndex>,
    /// In-memory usage counters, flushed in the background.
    pub usage: Arc<UsageTracker>,
    /// Serialises read-modify-write of keys and root keys, so two concurrent updates of one
    /// key cannot lose each other and the index is updated in the same order as the store.
    /// Storage engines serialise writes anyway (SQLite has one writer), so this costs no
    /// throughput; verifications never take it.
    pub writes: Arc<Mutex<()>>,
    /// Retention (write) and chain checks (read) exclude each other, so a check never sees
    /// events pruned under its feet.
    pub audit_maintenance: Arc<tokio::sync::RwLock<()>>,
    /// When root keys were last reloaded after a miss (see [`AppState::root_key`]).
    last_root_reload: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Where rate-limit counters live (memory unless configured with Redis).
    pub limiter: Arc<RateLimiter>,
    /// Signs chain heads (none: anchoring is off, e.g. an in-memory database).
    pub anchors: Option<Arc<Anchorer>>,
}

impl AppState {
    /// Loads every key and root key into the index.
    pub async fn load(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let index = KeyIndex::load(store.as_ref()).await?;
        let usage = UsageTracker::load(store.as_ref()).await?;
        Ok(Self(Arc::new(Shared {
            usage: Arc::new(usage),
            store,
            clock,
            index: Arc::new(index),
            writes: Arc::new(Mutex::new(())),
            audit_maintenance: Arc::new(tokio::sync::RwLock::new(())),
            last_root_reload: Arc::new(std::sync::Mutex::new(None)),
            limiter: Arc::new(RateLimiter::Memory(Default::default())),
            anchors: None,
        })))
    }

    /// Signs audit chain heads with `anchorer`.
    pub fn with_anchorer(mut self, anchorer: Anchorer) -> Self {
        Arc::make_mut(&mut self.0).anchors = Some(Arc::new(anchorer));
        self
    }

    /// Uses `limiter` for rate-limit counters (e.g. Redis, shared by every node).
    pub fn with_limiter(mut self, limiter: RateLimiter) -> Self {
        Arc::make_mut(&mut self.0).limiter = Arc::new(limiter);
        self
    }

    /// The root key with this hash. A miss reloads root keys and workspaces from storage (at
    /// most once a second, so garbage root keys cannot hammer the database): `keyward init`
    /// run against a live server's database then works without a restart.
    pub async fn root_key(&self, hash: &KeyHash) -> Option<Arc<RootKey>> {
        if let Some(root) = self.index.root_key(hash) {
            return Some(root);
        }
        {
            let mut last = self
                .last_root_reload
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < ROOT_KEY_RELOAD_INTERVAL) {
                return None;
            }
            *last = Some(Instant::now());
        }
        // Holding the write lock keeps a reload from overwriting a newer in-process change
        // (a root key revoked while the reload read the old row).
        let _guard = self.writes.lock().await;
        match self.index.reload_root_keys(self.store.as_ref()).await {
            Ok(()) => self.index.root_key(hash),
            Err(e) => {
                tracing::warn!(error = %e, "reloading root keys failed");
                None
            }
        }
    }
}
