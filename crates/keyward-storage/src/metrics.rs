//! Storage's metrics, read by `/metrics` at each scrape: how long group commits take and how
//! many requests each shares (the audit trail's durable commit), how far the database is
//! behind the audit journal, and the connection pools' state. [`CommitStats`] is recorded by
//! every [`crate::GroupCommit`] (once per batch, not per request); [`StorageMetrics`] gathers
//! what one opened database has and encodes it as a prometheus-client `Collector`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use std::sync::Arc;
use std::time::Duration;

/// Commit latency buckets, in seconds: 50 µs to 5 s (an `fdatasync` to a database round trip
/// under load).
const COMMIT_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// Requests per commit buckets: 1 to 4,096.
const BATCH_BUCKETS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// What one group commit has done: each batch's commit time and size.
#[derive(Debug)]
pub struct CommitStats {
    latency: Histogram,
    batch: Histogram,
}

impl Default for CommitStats {
    fn default() -> Self {
        Self {
            latency: Histogram::new(COMMIT_BUCKETS),
            batch: Histogram::new(BATCH_BUCKETS),
        }
    }
}

impl CommitStats {
    /// Records one batch of `size` requests committed in `took`.
    pub fn committed(&self, size: usize, took: Duration) {
        self.latency.observe(took.as_secs_f64());
        self.batch.observe(size as f64);
    }
}

/// A connection pool's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open (in use and idle).
    pub open: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

type Read<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// The metrics of one opened database: its audit commits, its ingest lag (a journal only),
/// its pools by name (`sqlite_writer`, `postgres`, …: a closed set fixed by the engine).
#[derive(Clone, Default)]
pub struct StorageMetrics {
    audit_commits: Option<Arc<CommitStats>>,
    ingest_lag: Option<Read<u64>>,
    pools: Vec<(&'static str, Read<PoolState>)>,
}

impl std::fmt::Debug for StorageMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageMetrics").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

impl StorageMetrics {
    /// The group commit that makes verification events durable.
    pub fn with_audit_commits(mut self, stats: Arc<CommitStats>) -> Self {
        self.audit_commits = Some(stats);
        self
    }

    /// Events durable in the journal and not yet in the database, read by `lag`.
    pub fn with_ingest_lag(mut self, lag: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.ingest_lag = Some(Arc::new(lag));
        self
    }

    /// A connection pool named `name`, its state read by `state`.
    pub fn with_pool(
        mut self,
        name: &'static str,
        state: impl Fn() -> PoolState + Send + Sync + 'static,
    ) -> Self {
        self.pools.push((name, Arc::new(state)));
        self
    }
}

impl Collector for StorageMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(stats) = &self.audit_commits {
            let metric = encoder.encode_descriptor(
                "audit_commit_duration",
                "Time to make one batch of audit events durable (journal fdatasync, or database commit)",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            stats.latency.encode(metric)?;
            let metric = encoder.encode_descriptor(
                "audit_commit_batch_size",
                "Appends (verifications) sharing one durable audit commit",
                None,
                MetricType::Histogram,
            )?;
            stats.batch.encode(metric)?;
        }
        if let Some(lag) = &self.ingest_lag {
            let metric = encoder.encode_descriptor(
                "audit_ingest_lag_events",
                "Audit events durable in the journal and not yet taken into the database",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(i64::try_from(lag()).unwrap_or(i64::MAX)).encode(metric)?;
        }
        if !self.pools.is_empty() {
            let mut metric = encoder.encode_descriptor(
                "db_pool_connections",
                "Database connections by pool and state (in_use, idle, max)",
                None,
                MetricType::Gauge,
            )?;
            for (pool, read) in &self.pools {
                let PoolState { open, idle, max } = read();
                for (state, value) in [
                    ("in_use", open.saturating_sub(idle)),
                    ("idle", idle),
                    ("max", max),
                ] {
                    let labels = PoolLabels { pool, state };
                    ConstGauge::new(i64::from(value)).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}
