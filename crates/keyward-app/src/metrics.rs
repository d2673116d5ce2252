//! The process's Prometheus metrics (prometheus-client), one registry per [`Keyward`]: what
//! the core counts (verifications by code, rate-limit backend errors), what the HTTP edge
//! observes (request latency per route template), the index's size, build info, and whatever
//! the process that owns the store registers beside them ([`Metrics::register_collector`]:
//! the audit journal's commits, ingest lag, the connection pool).
//!
//! **No label value comes from a request's data.** Labels are closed sets: the verify code, the
//! HTTP method (known methods, else `OTHER`), the route *template* the router matched (never
//! the path), the status class. Key ids, names and owners never become label values.
//!
//! Recording on the hot path is an atomic increment (a counter per verify code is made up
//! front) and, per request, one histogram observation.

use keyward_core::VerifyCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Mutex;
use std::time::Duration;

/// The version and git revision this binary was built from (`build.rs`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("KEYWARD_GIT_REVISION");
/// What `keyward --version` prints: the version and the git revision.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("KEYWARD_GIT_REVISION"),
    ")"
);

/// Upper bounds of the request latency buckets, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// An HTTP request's labels: every value from a closed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, `OPTIONS`, else `OTHER`.
    pub method: &'static str,
    /// The route template the router matched (`/v1/keys/{id}`), or `unmatched`.
    pub route: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: &'static str,
}

impl RequestLabels {
    /// The labels of a request: `route` must be a route template (or `None`), never a path.
    pub fn new(method: &str, route: Option<&str>, status: u16) -> Self {
        let method = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            _ => "OTHER",
        };
        let status = match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        Self {
            method,
            route: route.unwrap_or("unmatched").to_owned(),
            status,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The metrics of one [`crate::Keyward`].
pub struct Metrics {
    registry: Mutex<Registry>,
    /// One counter per verify code, in `VerifyCode::ALL`'s order.
    verifications: Vec<Counter>,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    rate_limit_errors: Counter,
    index_keys: Gauge,
    index_root_keys: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyward");
        let verified = Family::<CodeLabel, Counter>::default();
        let verifications = VerifyCode::ALL
            .iter()
            .map(|code| {
                verified
                    .get_or_create(&CodeLabel {
                        code: code.as_str(),
                    })
                    .clone()
            })
            .collect();
        registry.register(
            "verifications",
            "Verifications answered, by verify code",
            verified,
        );
        let requests = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency, by method, route template and status class",
            Unit::Seconds,
            requests.clone(),
        );
        let rate_limit_errors = Counter::default();
        registry.register(
            "rate_limit_backend_errors",
            "Rate-limit counter operations that failed (Redis unreachable, timed out or erring); \
             each failed the verification closed with 503",
            rate_limit_errors.clone(),
        );
        let index_keys = Gauge::default();
        registry.register(
            "index_keys",
            "Customer keys in the in-memory verification index",
            index_keys.clone(),
        );
        let index_root_keys = Gauge::default();
        registry.register(
            "index_root_keys",
            "Root keys in the in-memory index",
            index_root_keys.clone(),
        );
        registry.register(
            "build",
            "The version and git revision of this binary",
            Info::new(BuildLabels {
                version: VERSION,
                revision: REVISION,
            }),
        );
        Self {
            registry: Mutex::new(registry),
            verifications,
            requests,
            rate_limit_errors,
            index_keys,
            index_root_keys,
        }
    }

    /// Counts one verification answered with `code`.
    pub fn verified(&self, code: VerifyCode) {
        let at = VerifyCode::ALL.iter().position(|c| *c == code);
        if let Some(counter) = at.and_then(|at| self.verifications.get(at)) {
            counter.inc();
        }
    }

    /// Records one HTTP request's latency.
    pub fn request(&self, labels: &RequestLabels, took: Duration) {
        self.requests
            .get_or_create(labels)
            .observe(took.as_secs_f64());
    }

    /// Counts one failed rate-limit counter operation.
    pub fn rate_limit_error(&self) {
        self.rate_limit_errors.inc();
    }

    /// A gauge registered under `name` (prefixed `keyward_`), for its owner to set.
    pub fn register_gauge(&self, name: &str, help: &str) -> Gauge {
        let gauge = Gauge::default();
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register(name, help, gauge.clone());
        gauge
    }

    /// Adds metrics read at each scrape by their owner (storage, the connection pool).
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register_collector(collector);
    }

    /// The text exposition format (OpenMetrics), with the index sizes as of now.
    pub fn encode(&self, keys: usize, root_keys: usize) -> String {
        self.index_keys.set(i64::try_from(keys).unwrap_or(i64::MAX));
        self.index_root_keys
            .set(i64::try_from(root_keys).unwrap_or(i64::MAX));
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_closed_sets() {
        let labels = RequestLabels::new("BREW", None, 418);
        assert_eq!(labels.method, "OTHER");
        assert_eq!(labels.route, "unmatched");
        assert_eq!(labels.status, "4xx");
        assert_eq!(
            RequestLabels::new("GET", Some("/v1/keys/{id}"), 200).status,
            "2xx"
        );
    }

    #[test]
    fn verifications_count_by_code() {
        let metrics = Metrics::new();
        metrics.verified(VerifyCode::Revoked);
        metrics.verified(VerifyCode::Revoked);
        metrics.verified(VerifyCode::Valid);
        let text = metrics.encode(3, 1);
        assert!(
            text.contains("keyward_verifications_total{code=\"REVOKED\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("keyward_verifications_total{code=\"VALID\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("keyward_verifications_total{code=\"EXPIRED\"} 0"),
            "{text}"
        );
        assert!(text.contains("keyward_index_keys 3"), "{text}");
        assert!(text.contains("keyward_build_info{version=\""), "{text}");
    }
}
