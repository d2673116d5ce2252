//! Safety advice: the rules that compare how a key is set up and really used with the advice
//! people are given and forget (one key per integration, only the permissions it needs, a
//! name that says what it is for, an expiry, a new key when one may have leaked). Pure: the
//! caller gathers the key, what was observed of its use ([`KeyObservations`]) and the
//! workspace's [`AdviceSettings`]; [`advise`] returns the items, worst first.

use crate::model::{KeyRecord, KeyStatus};
use crate::permission::Permission;
use crate::query::PermissionQuery;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The revocation reason a leak report gives a key (`leaked: <source>`), by which the
/// `leaked` item recognises a leaked key in a rotation chain.
pub const LEAK_REASON_PREFIX: &str = "leaked: ";

/// Distinct networks, origins or user agents kept per key: above every threshold a workspace
/// may set, so a count that reaches it still reads "more than the threshold".
pub const MAX_DISTINCT: usize = 64;
/// Distinct required permissions kept per key.
pub const MAX_PERMISSIONS: usize = 256;
/// Longest window or period a setting may name: ten years.
pub const MAX_DAYS: u32 = 3650;
/// Most entries of a workspace's generic-name list.
pub const MAX_GENERIC_NAMES: usize = 200;

/// What an item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdviceCode {
    SharedKey,
    UnusedPermissions,
    WidePermissions,
    Stale,
    NoExpiry,
    ExpiringSoon,
    Imported,
    Leaked,
    GenericName,
}

impl AdviceCode {
    pub const ALL: [AdviceCode; 9] = [
        Self::SharedKey,
        Self::UnusedPermissions,
        Self::WidePermissions,
        Self::Stale,
        Self::NoExpiry,
        Self::ExpiringSoon,
        Self::Imported,
        Self::Leaked,
        Self::GenericName,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SharedKey => "shared_key",
            Self::UnusedPermissions => "unused_permissions",
            Self::WidePermissions => "wide_permissions",
            Self::Stale => "stale",
            Self::NoExpiry => "no_expiry",
            Self::ExpiringSoon => "expiring_soon",
            Self::Imported => "imported",
            Self::Leaked => "leaked",
            Self::GenericName => "generic_name",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How much an item matters; ordered, `Critical` worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// As stored, so storage can order worst first: 0, 1, 2.
    pub fn rank(self) -> i64 {
        match self {
            Self::Info => 0,
            Self::Warning => 1,
            Self::Critical => 2,
        }
    }

    pub fn from_rank(rank: i64) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Critical]
            .into_iter()
            .find(|s| s.rank() == rank)
    }
}

/// One piece of advice about one key. Holds counts, networks, permission names and times,
/// never a key or a digest.
#[derive(Debug, Clone, PartialEq)]
pub struct AdviceItem {
    pub code: AdviceCode,
    pub severity: Severity,
    pub message: String,
    /// Since when the item holds, as far as the evidence tells.
    pub since: DateTime<Utc>,
    pub evidence: Map<String, Value>,
    /// A digest of what the item is about (not of every count in its evidence): a dismissal
    /// holds while it stays the same.
    pub fingerprint: String,
}

/// An item of some key, as the workspace's list holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyAdvice {
    pub workspace_id: String,
    pub key_id: String,
    pub key_name: String,
    pub item: AdviceItem,
}

/// Where a page of a workspace's advice list ends: the next page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceCursor {
    pub severity: Severity,
    pub key_id: String,
    pub code: AdviceCode,
}

/// A dismissed item: hidden while its fingerprint stays the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissal {
    pub workspace_id: String,
    pub key_id: String,
    pub code: AdviceCode,
    pub fingerprint: String,
    /// The root key that dismissed it.
    pub dismissed_by: String,
    pub dismissed_at: DateTime<Utc>,
}

/// A workspace's thresholds and periods for advice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdviceSettings {
    /// The recent window `shared_key` counts distinct clients in.
    pub shared_window_days: u32,
    /// More distinct networks (/24 IPv4, /64 IPv6) than this in the window: `shared_key`.
    pub shared_max_networks: u32,
    pub shared_max_origins: u32,
    pub shared_max_user_agents: u32,
    /// A permission no verification needed in this many days is unused (judged only once
    /// the key has been observed in use that long).
    pub unused_permission_days: u32,
    /// Unused (or never used since created) this many days: `stale`.
    pub stale_days: u32,
    /// Disable keys unused (and unchanged) this many days; `None`: never.
    pub auto_disable_days: Option<u32>,
    /// Keys without an expiry get `no_expiry`.
    pub recommend_expiry: bool,
    /// Keys expiring within this many days get `expiring_soon`.
    pub expiring_soon_days: u32,
    /// Words and names that do not say what a key is for (normalized, see
    /// [`crate::name::normalized`]); the names refused outright count too.
    pub generic_names: Vec<String>,
}

/// The default generic-name list: words that name a part of a system, not an integration.
pub const DEFAULT_GENERIC_NAMES: &[&str] = &[
    "app",
    "application",
    "backend",
    "frontend",
    "server",
    "client",
    "service",
    "integration",
    "website",
    "web",
    "mobile",
    "internal",
    "external",
    "primary",
    "secondary",
    "old",
    "backup",
    "copy",
    "admin",
    "user",
    "shared",
    "common",
    "live",
    "local",
    "my",
    "the",
    "for",
    "our",
];

impl Default for AdviceSettings {
    fn default() -> Self {
        Self {
            shared_window_days: 7,
            shared_max_networks: 5,
            shared_max_origins: 3,
            shared_max_user_agents: 5,
            unused_permission_days: 30,
            stale_days: 90,
            auto_disable_days: None,
            recommend_expiry: false,
            expiring_soon_days: 14,
            generic_names: DEFAULT_GENERIC_NAMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdviceSettingsError {
    #[error("{0} must be 1-{MAX_DAYS} days")]
    Days(&'static str),
    #[error("{0} must be 1-{max}", max = MAX_DISTINCT - 1)]
    Threshold(&'static str),
    #[error("generic_names holds at most {MAX_GENERIC_NAMES} entries of 1-100 characters, without control characters")]
    GenericNames,
}

impl AdviceSettings {
    /// The settings, checked, with the generic names normalized, sorted and deduplicated.
    pub fn checked(mut self) -> Result<Self, AdviceSettingsError> {
        let days = [
            ("shared_window_days", Some(self.shared_window_days)),
            ("unused_permission_days", Some(self.unused_permission_days)),
            ("stale_days", Some(self.stale_days)),
            ("auto_disable_days", self.auto_disable_days),
            ("expiring_soon_days", Some(self.expiring_soon_days)),
        ];
        for (name, value) in days {
            if value.is_some_and(|d| !(1..=MAX_DAYS).contains(&d)) {
                return Err(AdviceSettingsError::Days(name));
            }
        }
        let thresholds = [
            ("shared_max_networks", self.shared_max_networks),
            ("shared_max_origins", self.shared_max_origins),
            ("shared_max_user_agents", self.shared_max_user_agents),
        ];
        for (name, value) in thresholds {
            if !(1..MAX_DISTINCT as u32).contains(&value) {
                return Err(AdviceSettingsError::Threshold(name));
            }
        }
        let bad_name =
            |n: &String| !(1..=100).contains(&n.chars().count()) || n.chars().any(char::is_control);
        if self.generic_names.len() > MAX_GENERIC_NAMES || self.generic_names.iter().any(bad_name) {
            return Err(AdviceSettingsError::GenericNames);
        }
        let mut names: Vec<String> = self
            .generic_names
            .iter()
            .map(|n| crate::name::normalized(n))
            .filter(|n| !n.is_empty())
            .collect();
        names.sort();
        names.dedup();
        self.generic_names = names;
        Ok(self)
    }
}

/// When a distinct value was first and last seen (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen(pub i64, pub i64);

impl Seen {
    fn first(self) -> i64 {
        self.0
    }
    fn last(self) -> i64 {
        self.1
    }
    fn merge(self, other: Seen) -> Seen {
        Seen(self.0.min(other.0), self.1.max(other.1))
    }
}

/// What was observed of a key's `VALID` verifications: the compact, bounded record advice is
/// judged from (at most [`MAX_DISTINCT`] values per kind, the most recently seen kept).
/// Origins and user agents are kept as short digests: only their number matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyObservations {
    #[serde(skip)]
    pub workspace_id: String,
    #[serde(skip)]
    pub key_id: String,
    /// The first and last verification observed (unix ms).
    pub seen: Option<Seen>,
    pub networks: BTreeMap<String, Seen>,
    pub origins: BTreeMap<String, Seen>,
    pub user_agents: BTreeMap<String, Seen>,
    /// Permissions verifications of the key asked for.
    pub permissions: BTreeMap<String, Seen>,
}

/// One `VALID` verification as advice needs it, made on the verify path without allocating
/// for the client's details (an address, two checksums) and handed on as it is.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub at: DateTime<Utc>,
    pub ip: Option<IpAddr>,
    pub origin: Option<u32>,
    pub user_agent: Option<u32>,
    pub required: Option<PermissionQuery>,
}

impl Sighting {
    pub fn new(
        at: DateTime<Utc>,
        ip: Option<&str>,
        origin: Option<&str>,
        user_agent: Option<&str>,
        required: Option<PermissionQuery>,
    ) -> Self {
        Self {
            at,
            ip: ip.and_then(|ip| ip.trim().parse().ok()),
            origin: origin.map(|o| crc32fast::hash(o.as_bytes())),
            user_agent: user_agent.map(|u| crc32fast::hash(u.as_bytes())),
            required,
        }
    }
}

/// The network a client address belongs to for counting clients: its /24 (IPv4) or /64
/// (IPv6), the block one host or one provider's allocation usually spans.
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(bits))
        }
    }
}

fn leaves(query: &PermissionQuery, out: &mut Vec<Permission>) {
    match query {
        PermissionQuery::One(p) => out.push(p.clone()),
        PermissionQuery::And(a, b) | PermissionQuery::Or(a, b) => {
            leaves(a, out);
            leaves(b, out);
        }
    }
}

fn note(map: &mut BTreeMap<String, Seen>, value: String, at: i64, cap: usize) {
    let seen = Seen(at, at);
    map.entry(value)
        .and_modify(|s| *s = s.merge(seen))
        .or_insert(seen);
    while map.len() > cap {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, s)| s.last())
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
}

impl KeyObservations {
    pub fn new(workspace_id: &str, key_id: &str) -> Self {
        Self {
            workspace_id: workspace_id.to_owned(),
            key_id: key_id.to_owned(),
            ..Self::default()
        }
    }

    /// Adds one verification.
    pub fn record(&mut self, sighting: &Sighting) {
        let at = sighting.at.timestamp_millis();
        let now = Seen(at, at);
        self.seen = Some(self.seen.map_or(now, |s| s.merge(now)));
        if let Some(ip) = sighting.ip {
            note(&mut self.networks, network(ip), at, MAX_DISTINCT);
        }
        if let Some(origin) = sighting.origin {
            note(&mut self.origins, format!("{origin:08x}"), at, MAX_DISTINCT);
        }
        if let Some(agent) = sighting.user_agent {
            note(
                &mut self.user_agents,
                format!("{agent:08x}"),
                at,
                MAX_DISTINCT,
            );
        }
        if let Some(required) = &sighting.required {
            let mut needed = Vec::new();
            leaves(required, &mut needed);
            for p in needed {
                note(
                    &mut self.permissions,
                    p.as_str().to_owned(),
                    at,
                    MAX_PERMISSIONS,
                );
            }
        }
    }

    /// Adds what another observer saw (another node, or an earlier flush).
    pub fn merge(&mut self, other: &KeyObservations) {
        if let Some(seen) = other.seen {
            self.seen = Some(self.seen.map_or(seen, |s| s.merge(seen)));
        }
        let pairs = [
            (&mut self.networks, &other.networks, MAX_DISTINCT),
            (&mut self.origins, &other.origins, MAX_DISTINCT),
            (&mut self.user_agents, &other.user_agents, MAX_DISTINCT),
            (&mut self.permissions, &other.permissions, MAX_PERMISSIONS),
        ];
        for (mine, theirs, cap) in pairs {
            for (value, seen) in theirs {
                note(mine, value.clone(), seen.last(), cap);
                if let Some(s) = mine.get_mut(value) {
                    *s = s.merge(*seen);
                }
            }
        }
    }
}

/// Everything [`advise`] judges a key by.
pub struct AdviceInput<'a> {
    pub key: &'a KeyRecord,
    /// The key's last `VALID` verification (usage counters).
    pub last_used_at: Option<DateTime<Utc>>,
    pub observations: Option<&'a KeyObservations>,
    pub settings: &'a AdviceSettings,
    /// The keys that replaced it, in rotation order (empty unless it was rotated).
    pub successors: &'a [KeyRecord],
    pub now: DateTime<Utc>,
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn time_value(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn item(
    code: AdviceCode,
    severity: Severity,
    message: String,
    since: DateTime<Utc>,
    evidence: Value,
    basis: &str,
) -> AdviceItem {
    let digest = Sha256::digest(format!("{}\n{basis}", code.as_str()).as_bytes());
    AdviceItem {
        code,
        severity,
        message,
        since,
        evidence: match evidence {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        fingerprint: hex::encode(&digest[..16]),
    }
}

/// The advice for one key, worst first. Keys that no longer verify (revoked, expired) get
/// none, except what still matters about a rotated key in its grace period.
pub fn advise(input: &AdviceInput<'_>) -> Vec<AdviceItem> {
    let key = input.key;
    if matches!(
        key.status(input.now),
        KeyStatus::Revoked | KeyStatus::Expired
    ) {
        return Vec::new();
    }
    let mut items = Vec::new();
    items.extend(leaked(input));
    if key.replaced_by.is_none() {
        items.extend(shared_key(input));
        items.extend(unused_permissions(input));
        items.extend(wide_permissions(input));
        items.extend(stale(input));
        items.extend(no_expiry(input));
        items.extend(expiring_soon(input));
        items.extend(imported(input));
        items.extend(generic_name(input));
    }
    items.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    items
}

/// The items not hidden by a dismissal of the same item with the same fingerprint.
pub fn without_dismissed(items: Vec<AdviceItem>, dismissals: &[Dismissal]) -> Vec<AdviceItem> {
    items
        .into_iter()
        .filter(|i| {
            !dismissals
                .iter()
                .any(|d| d.code == i.code && d.fingerprint == i.fingerprint)
        })
        .collect()
}

/// Whether the sweep should disable the key: automatic disabling is on and the key has been
/// neither used nor changed (re-enabling it is a change) for that many days.
pub fn auto_disable_due(
    key: &KeyRecord,
    last_used_at: Option<DateTime<Utc>>,
    settings: &AdviceSettings,
    now: DateTime<Utc>,
) -> bool {
    let Some(after) = settings.auto_disable_days else {
        return false;
    };
    if key.status(now) != KeyStatus::Active || key.replaced_by.is_some() {
        return false;
    }
    let active = [Some(key.created_at), Some(key.updated_at), last_used_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(key.created_at);
    now - active >= days(after)
}

fn leaked(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let key = input.key;
    key.replaced_by.as_ref()?;
    let leaked = input.successors.iter().find(|s| {
        s.revoked_reason
            .as_deref()
            .is_some_and(|r| r.starts_with(LEAK_REASON_PREFIX))
    })?;
    let at = leaked.revoked_at.unwrap_or(input.now);
    Some(item(
        AdviceCode::Leaked,
        Severity::Critical,
        format!(
            "{} ({}), which replaced this key, was reported leaked on {}; this key still \
             verifies during its grace period: revoke it and issue a new key",
            leaked.id,
            leaked.name,
            date(at)
        ),
        at,
        json!({"leaked_key_id": leaked.id, "reported_at": time_value(at),
               "grace_until": key.expires_at.map(time_value)}),
        &leaked.id,
    ))
}

fn in_window(map: &BTreeMap<String, Seen>, cut: i64) -> Vec<(&String, Seen)> {
    let mut recent: Vec<_> = map
        .iter()
        .filter(|(_, s)| s.last() >= cut)
        .map(|(k, s)| (k, *s))
        .collect();
    recent.sort_by_key(|(_, s)| std::cmp::Reverse(s.last()));
    recent
}

fn shared_key(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let obs = input.observations?;
    let s = input.settings;
    let cut = (input.now - days(s.shared_window_days)).timestamp_millis();
    let dims = [
        ("networks", &obs.networks, s.shared_max_networks),
        ("origins", &obs.origins, s.shared_max_origins),
        ("user_agents", &obs.user_agents, s.shared_max_user_agents),
    ];
    let (mut counts, mut over, mut since) = (Vec::new(), Vec::new(), None::<i64>);
    for (name, map, max) in dims {
        let recent = in_window(map, cut);
        counts.push((name, recent.len()));
        if recent.len() > max as usize {
            // Held since the first seen of the value that went over the threshold.
            let mut firsts: Vec<i64> = recent.iter().map(|(_, s)| s.first()).collect();
            firsts.sort_unstable();
            let crossed = firsts.get(max as usize).copied().unwrap_or(cut);
            since = Some(since.map_or(crossed, |s| s.min(crossed)));
            // Levels by doubling: a dismissal holds until the count about doubles.
            over.push(format!(
                "{name}:{}",
                usize::BITS - recent.len().leading_zeros()
            ));
        }
    }
    let since = since?;
    let sample: Vec<&String> = in_window(&obs.networks, cut)
        .into_iter()
        .take(5)
        .map(|(n, _)| n)
        .collect();
    let mut evidence: Map<String, Value> = counts
        .iter()
        .map(|(name, n)| ((*name).to_owned(), json!(n)))
        .collect();
    evidence.insert("window_days".into(), json!(s.shared_window_days));
    evidence.insert("recent_networks".into(), json!(sample));
    let [(_, networks), (_, origins), (_, agents)] = counts[..] else {
        return None;
    };
    let seen = format!("{networks} networks, {origins} origins and {agents} user agents");
    Some(item(
        AdviceCode::SharedKey,
        Severity::Warning,
        format!(
            "verified from {seen} in the last {} days, more clients than one integration \
             plausibly has: issue one key per integration",
            s.shared_window_days
        ),
        from_ms(since),
        Value::Object(evidence),
        &over.join(","),
    ))
}

/// Permissions asked for within the last `days` (all of them with `None`), and the first
/// observation, when the key has been observed in use at least `judge_after` days.
fn needed(
    input: &AdviceInput<'_>,
    window: Option<u32>,
) -> Option<(Vec<Permission>, DateTime<Utc>)> {
    let obs = input.observations?;
    let first = from_ms(obs.seen?.first());
    if input.now - first < days(input.settings.unused_permission_days) {
        return None;
    }
    let cut = window.map_or(i64::MIN, |d| (input.now - days(d)).timestamp_millis());
    let used = obs
        .permissions
        .iter()
        .filter(|(_, s)| s.last() >= cut)
        .filter_map(|(p, _)| Permission::parse(p).ok())
        .collect();
    Some((used, first))
}

fn names(list: &[&Permission]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn unused_permissions(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let n = input.settings.unused_permission_days;
    let (used, first) = needed(input, Some(n))?;
    let granted = &input.key.permissions;
    let (kept, unused): (Vec<&Permission>, Vec<&Permission>) = granted
        .iter()
        .partition(|g| used.iter().any(|u| g.grants(u)));
    if unused.is_empty() {
        return None;
    }
    Some(item(
        AdviceCode::UnusedPermissions,
        Severity::Info,
        format!(
            "no verification in the last {n} days needed {}: narrow the key to {}",
            names(&unused),
            names(&kept)
        ),
        first + days(n),
        json!({"unused": unused, "narrower": kept, "days": n}),
        &names(&unused),
    ))
}

fn is_wide(p: &Permission) -> bool {
    p.as_str().contains('*')
}

fn wide_permissions(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let (ever, first) = needed(input, None)?;
    if ever.is_empty() || ever.iter().any(is_wide) {
        return None;
    }
    let granted = &input.key.permissions;
    let wide: Vec<&Permission> = granted.iter().filter(|g| is_wide(g)).collect();
    if wide.is_empty() {
        return None;
    }
    // What to grant instead: the specific grants kept, and each permission asked for that
    // only a wildcard grants.
    let mut narrower: Vec<&Permission> = granted.iter().filter(|g| !is_wide(g)).collect();
    for u in &ever {
        if !narrower.iter().any(|g| g.grants(u)) && wide.iter().any(|w| w.grants(u)) {
            narrower.push(u);
        }
    }
    narrower.sort();
    narrower.dedup();
    Some(item(
        AdviceCode::WidePermissions,
        Severity::Warning,
        format!(
            "grants {} but verifications have only ever needed specific permissions: grant {} instead",
            names(&wide),
            names(&narrower)
        ),
        first,
        json!({"wide": wide, "narrower": narrower}),
        &format!("{}|{}", names(&wide), names(&narrower)),
    ))
}

fn stale(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let n = input.settings.stale_days;
    let key = input.key;
    let from = input.last_used_at.unwrap_or(key.created_at);
    if input.now - from < days(n) {
        return None;
    }
    let unused_days = (input.now - from).num_days();
    let what = match input.last_used_at {
        Some(at) => format!("not used for {unused_days} days (last on {})", date(at)),
        None => format!(
            "never used since it was created on {}",
            date(key.created_at)
        ),
    };
    let auto = match input.settings.auto_disable_days {
        Some(m) => format!("; keys unused for {m} days are disabled automatically"),
        None => String::new(),
    };
    Some(item(
        AdviceCode::Stale,
        Severity::Warning,
        format!("{what}: revoke it if nothing needs it any more{auto}"),
        from + days(n),
        json!({"last_used_at": input.last_used_at.map(time_value),
               "days_unused": unused_days, "stale_days": n}),
        &input
            .last_used_at
            .map_or("never".to_owned(), |t| t.timestamp_millis().to_string()),
    ))
}

fn no_expiry(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    if !input.settings.recommend_expiry || input.key.expires_at.is_some() {
        return None;
    }
    Some(item(
        AdviceCode::NoExpiry,
        Severity::Info,
        "the key never expires and this workspace recommends an expiry: set one and rotate \
         the key before it"
            .into(),
        input.key.created_at,
        json!({}),
        "",
    ))
}

fn expiring_soon(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let n = input.settings.expiring_soon_days;
    let at = input.key.expires_at?;
    if at <= input.now || at - input.now > days(n) {
        return None;
    }
    let left = (at - input.now).num_days();
    Some(item(
        AdviceCode::ExpiringSoon,
        Severity::Warning,
        format!(
            "expires on {} (in {left} days): rotate it before then",
            date(at)
        ),
        (at - days(n)).max(input.key.created_at),
        json!({"expires_at": time_value(at), "days_left": left}),
        &at.timestamp_millis().to_string(),
    ))
}

fn imported(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    if !input.key.imported {
        return None;
    }
    Some(item(
        AdviceCode::Imported,
        Severity::Warning,
        "imported from another system: it has no keyward prefix or checksum, so leak \
         scanners cannot recognise it: rotate it to get a keyward key"
            .into(),
        input.key.created_at,
        json!({}),
        "",
    ))
}

/// Whether a name says nothing about the integration: every word is on the workspace's
/// generic list, on the list of names refused outright, or a number.
pub fn is_generic_name(name: &str, generic: &[String]) -> bool {
    let normalized = crate::name::normalized(name);
    if normalized.is_empty() || generic.contains(&normalized) {
        return true;
    }
    normalized.split(' ').all(|word| {
        word.chars().all(|c| c.is_ascii_digit())
            || generic.iter().any(|g| g == word)
            || crate::name::GENERIC_NAMES.contains(&word)
    })
}

fn generic_name(input: &AdviceInput<'_>) -> Option<AdviceItem> {
    let name = &input.key.name;
    if !is_generic_name(name, &input.settings.generic_names) {
        return None;
    }
    Some(item(
        AdviceCode::GenericName,
        Severity::Info,
        format!(
            "the name {name:?} does not say which integration holds the key: {}",
            crate::name::NAME_HINT
        ),
        input.key.created_at,
        json!({"name": name}),
        name,
    ))
}

#[cfg(test)]
#[path = "advice_tests.rs"]
mod tests;
