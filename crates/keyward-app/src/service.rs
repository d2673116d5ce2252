//! [`Keyward`], the service type: the one piece of shared state every interface holds.

use crate::advice::AdviceObserver;
use crate::aggregate::Aggregates;
use crate::anchors::Anchorer;
use crate::chain_verifier::ChainProgress;
use crate::error::AppError;
use crate::follow::Freshness;
use crate::index::KeyIndex;
use crate::limits::RateLimiter;
use crate::metrics::Metrics;
use crate::rights::Principal;
use crate::usage::UsageTracker;
use chrono::{DateTime, Utc};
use keyward_core::anchor::AnchorSigningKey;
use keyward_core::{Clock, KeyHash, Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Why `/readyz` fails when the store's ping does.
pub const STORAGE_NOT_READY: &str = "the database does not answer, or the audit journal does \
     not accept events or cannot be taken into the database (the server log says which)";

/// Why `/readyz` fails when the node follows the change log and is behind it.
pub const FEED_NOT_READY: &str = "the change feed is behind: this node has not confirmed \
     within the last second that it has seen every change";

/// How often an unknown root key may trigger a reload of root keys from storage.
const ROOT_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The application core. Cloned for every request (axum hands each handler its own copy),
/// so it is one `Arc`: one reference count to bump instead of one per field.
#[derive(Clone)]
pub struct Keyward(Arc<Inner>);

impl std::ops::Deref for Keyward {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What [`Keyward`] owns. Fields are private to the core, so every change goes through its
/// operations (and the write path in `commit.rs`).
#[derive(Clone)]
pub struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) index: Arc<KeyIndex>,
    /// In-memory usage counters, flushed in the background.
    pub(crate) usage: Arc<UsageTracker>,
    /// Serialises read-modify-write of keys and root keys, so two concurrent updates of one
    /// key cannot lose each other and the index is updated in the same order as the store.
    /// Storage engines serialise writes anyway (SQLite has one writer), so this costs no
    /// throughput; verifications never take it.
    pub(crate) writes: Arc<Mutex<()>>,
    /// Retention (write) and chain checks (read) exclude each other, so a check never sees
    /// events pruned under its feet.
    pub(crate) audit_maintenance: Arc<tokio::sync::RwLock<()>>,
    /// When root keys were last reloaded after a miss (see [`Keyward::authenticate`]).
    last_root_reload: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Where rate-limit counters live (memory unless configured with Redis).
    pub(crate) limiter: Arc<RateLimiter>,
    /// Signs chain heads (none: anchoring is off, e.g. an in-memory database).
    pub(crate) anchors: Option<Arc<Anchorer>>,
    /// The change log's position read just before the index was loaded, and when: where a
    /// follower starts (`follow.rs`).
    pub(crate) loaded_seq: i64,
    pub(crate) loaded_at: Instant,
    /// How fresh the index is, when it follows the change log (several nodes on one
    /// database); `None` on a single node, whose index every write goes through.
    pub(crate) freshness: Option<Arc<Freshness>>,
    /// The process's metrics (`/metrics`).
    pub(crate) metrics: Arc<Metrics>,
    /// What verification saw, on its way to the safety advice (`advice.rs`).
    pub(crate) advice: Arc<AdviceObserver>,
    /// Incremental chain verification: the prefix signing key and each chain's progress.
    pub(crate) chain: Arc<ChainProgress>,
    /// Verifications at the `aggregate` audit level not yet written (`aggregate.rs`).
    pub(crate) aggregates: Arc<Aggregates>,
}

impl Keyward {
    /// Loads every key and root key into the index.
    pub async fn load(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::load_from(store, clock, None).await
    }

    /// Loads the index from the snapshot at `snapshot` when it is valid for this database
    /// (`snapshot.rs`), and from every key in storage otherwise.
    pub async fn load_from(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        snapshot: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let loaded_at = Instant::now();
        // Read before the index: a change committed in between is applied again, never missed.
        let loaded_seq = store.last_change_seq().await?;
        let index = async {
            match snapshot {
                Some(path) => match crate::snapshot::load(path, store.as_ref()).await? {
                    Some(index) => Ok(index),
                    None => KeyIndex::load(store.as_ref()).await,
                },
                None => KeyIndex::load(store.as_ref()).await,
            }
        };
        // Read side by side: each waits on the database much of the time.
        let (index, usage) = tokio::try_join!(index, UsageTracker::load(store.as_ref()))?;
        let metrics = Arc::new(Metrics::new());
        // Until an anchor key is given, prefixes are signed with a key of this process only:
        // after a restart they are not trusted and chains are verified from the start.
        let prefix_key = AnchorSigningKey::generate().map_err(|e| {
            StoreError::Unavailable(format!("no randomness for a signing key: {e}"))
        })?;
        let chain = Arc::new(ChainProgress::new(Arc::new(prefix_key), &metrics));
        Ok(Self(Arc::new(Inner {
            usage: Arc::new(usage),
            store,
            clock,
            index: Arc::new(index),
            writes: Arc::new(Mutex::new(())),
            audit_maintenance: Arc::new(tokio::sync::RwLock::new(())),
            last_root_reload: Arc::new(std::sync::Mutex::new(None)),
            limiter: Arc::new(RateLimiter::Memory(Default::default())),
            anchors: None,
            loaded_seq,
            loaded_at,
            freshness: None,
            metrics,
            advice: Arc::new(AdviceObserver::default()),
            chain,
            aggregates: Arc::new(Aggregates::default()),
        })))
    }

    /// Signs audit chain heads with `anchorer`.
    pub fn with_anchorer(mut self, anchorer: Anchorer) -> Self {
        let inner = Arc::make_mut(&mut self.0);
        inner.chain = Arc::new(inner.chain.rekeyed(anchorer.key.clone()));
        inner.anchors = Some(Arc::new(anchorer));
        self
    }

    /// Checks at most `answer_bound` events in one `audit verify` answer and `chunk` events
    /// per background step (`chain_answer.rs`, `chain_verifier.rs`); the defaults suit
    /// production, tests and benchmarks use small ones.
    pub fn with_chain_limits(mut self, answer_bound: u64, chunk: u64) -> Self {
        let inner = Arc::make_mut(&mut self.0);
        inner.chain = Arc::new(inner.chain.bounded(answer_bound, chunk));
        self
    }

    /// Uses `limiter` for rate-limit counters (e.g. Redis, shared by every node).
    pub fn with_limiter(mut self, limiter: RateLimiter) -> Self {
        Arc::make_mut(&mut self.0).limiter = Arc::new(limiter);
        self
    }

    /// Answers verifications only while `freshness` says the index is fresh.
    pub(crate) fn with_freshness(mut self, freshness: Arc<Freshness>) -> Self {
        Arc::make_mut(&mut self.0).freshness = Some(freshness);
        self
    }

    /// The current time, from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store, for whoever owns the process (shutting the store down after the last
    /// request); operations never need it.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The verification index (read access for start-up logs and benchmarks).
    pub fn index(&self) -> &KeyIndex {
        &self.index
    }

    /// Verifications counted at the `aggregate` audit level and not yet written.
    pub fn aggregates(&self) -> &Aggregates {
        &self.aggregates
    }

    /// Usage counters, which key views show.
    pub fn usage(&self) -> &UsageTracker {
        &self.usage
    }

    /// The metrics every interface records into and `/metrics` shows.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The metrics in the text exposition format, with the index's size as of now.
    pub fn render_metrics(&self) -> String {
        self.metrics
            .encode(self.index.key_count(), self.index.root_key_count())
    }

    /// How many keys the index holds.
    pub fn key_count(&self) -> usize {
        self.index.key_count()
    }

    /// Whether the store can be reached and takes writes and, on a node that follows the
    /// change log, the index is fresh (readiness). The reason given is a fixed phrase; the
    /// store's own error, which may name hosts or paths, goes to the log.
    pub async fn ready(&self) -> Result<(), AppError> {
        self.store.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "not ready: storage");
            AppError::NotReady(STORAGE_NOT_READY)
        })?;
        self.fresh().map_err(|e| {
            tracing::warn!(error = %e, "not ready: change feed");
            AppError::NotReady(FEED_NOT_READY)
        })
    }

    /// Fails closed when the index follows the change log and has not been confirmed
    /// complete within the freshness bound (`follow.rs`).
    pub(crate) fn fresh(&self) -> Result<(), AppError> {
        match &self.freshness {
            Some(freshness) if !freshness.is_fresh() => Err(AppError::Unavailable(format!(
                "the change feed is behind: the index was last confirmed complete {} ms ago",
                freshness.age().as_millis()
            ))),
            _ => Ok(()),
        }
    }

    /// The principal whose root key has this hash, unless it is unknown or revoked. A miss
    /// reloads root keys and workspaces from storage (at most once a second, so garbage root
    /// keys cannot hammer the database): `keyward init` run against a live server's database
    /// then works without a restart.
    pub async fn authenticate(&self, hash: &KeyHash) -> Option<Principal> {
        let root = match self.index.root_key(hash) {
            Some(root) => root,
            None => self.reload_for(hash).await?,
        };
        if root.revoked_at.is_some() {
            return None;
        }
        Some(Principal::new(root))
    }

    async fn reload_for(&self, hash: &KeyHash) -> Option<Arc<keyward_core::RootKey>> {
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
