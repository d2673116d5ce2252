//! Wire types of the safety advice: items on `GET /v1/keys/{id}`, the workspace's list
//! (`GET /v1/advice`), a dismissal and the settings (`/v1/advice/settings`).

pub use crate::enums::{AdviceCode, AdviceSeverity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One piece of advice about a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdviceItem {
    pub code: AdviceCode,
    pub severity: AdviceSeverity,
    pub message: String,
    /// Since when the item holds, as far as its evidence tells.
    pub since: DateTime<Utc>,
    /// What the item was judged from: counts, networks, permission names, times.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: Map<String, Value>,
}

/// An item of the workspace's list, with the key it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyAdviceItem {
    pub key_id: String,
    pub key_name: String,
    #[serde(flatten)]
    pub item: AdviceItem,
}

/// `GET /v1/advice`: the workspace's advice, worst first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdviceList {
    pub items: Vec<KeyAdviceItem>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `POST /v1/keys/{id}/advice/{code}/dismiss`: hidden until its evidence changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdviceDismissal {
    pub key_id: String,
    pub code: AdviceCode,
    /// The root key that dismissed it.
    pub dismissed_by: String,
    pub dismissed_at: DateTime<Utc>,
}

/// `GET` and `PUT /v1/advice/settings`: thresholds and periods (docs/advice.md has the
/// defaults). A `PUT` replaces every field; one left out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdviceSettings {
    /// Days `shared_key` counts distinct clients over (1-3650, default 7).
    pub shared_window_days: Option<u32>,
    /// More distinct networks (/24 IPv4, /64 IPv6) in the window: `shared_key` (1-63, default 5).
    pub shared_max_networks: Option<u32>,
    /// More distinct origins in the window: `shared_key` (1-63, default 3).
    pub shared_max_origins: Option<u32>,
    /// More distinct user agents in the window: `shared_key` (1-63, default 5).
    pub shared_max_user_agents: Option<u32>,
    /// A permission no verification needed for this many days is unused (default 30).
    pub unused_permission_days: Option<u32>,
    /// Unused (or never used) this many days: `stale` (default 90).
    pub stale_days: Option<u32>,
    /// Disable keys neither used nor changed for this many days; `null`: never (default).
    pub auto_disable_days: Option<u32>,
    /// Advise an expiry on keys without one (default false).
    pub recommend_expiry: Option<bool>,
    /// Keys expiring within this many days: `expiring_soon` (default 14).
    pub expiring_soon_days: Option<u32>,
    /// Words and names that do not say what a key is for (default: a list of words such
    /// as `backend`, `server`, `app`).
    pub generic_names: Option<Vec<String>>,
}
