//! Values as stored and read back: times as unix milliseconds, counts as integers, lists
//! as JSON arrays of strings, metadata as a JSON object, hashes as 32-byte blobs. Anything
//! read back that does not convert is [`StoreError::Corrupt`], whose message names the
//! record and column but never quotes the stored value.

use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Permission, StoreError};
use serde_json::Value;

/// A time as stored: unix milliseconds (the domain clock is already truncated to millis).
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn time(ms: i64, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is out of range")))
}

pub fn optional_time(ms: Option<i64>, what: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| time(ms, what)).transpose()
}

/// A count or limit as stored. Every bound in the domain (credits ≤ 2^53, windows ≤ a day, …)
/// is far below `i64::MAX`.
pub fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count or limit, which is never negative.
pub fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} is negative")))
}

pub fn hash(bytes: &[u8], what: &str) -> Result<KeyHash, StoreError> {
    KeyHash::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// A list as stored (permissions, allowlists): a JSON array of strings.
pub fn json_list<T: ToString>(items: &[T]) -> String {
    Value::Array(items.iter().map(|t| Value::String(t.to_string())).collect()).to_string()
}

/// Reads back a [`json_list`], each entry with `parse`, whose error must not quote the entry.
pub fn parse_json_list<T, E: std::fmt::Display>(
    json: &str,
    what: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    // Most keys have empty allowlists: no parse for those.
    if json == "[]" {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = serde_json::from_str(json)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON array of strings")))?;
    texts
        .iter()
        .map(|text| parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))))
        .collect()
}

/// `Permission`'s error never quotes the text it refused.
pub fn permissions(json: &str, what: &str) -> Result<Vec<Permission>, StoreError> {
    parse_json_list(json, what, Permission::parse)
}

/// Metadata as stored: a JSON object.
pub fn metadata_json(metadata: &serde_json::Map<String, Value>) -> String {
    Value::Object(metadata.clone()).to_string()
}

pub fn metadata(json: &str, what: &str) -> Result<serde_json::Map<String, Value>, StoreError> {
    // Most keys have none: no parse for those.
    if json == "{}" {
        return Ok(serde_json::Map::new());
    }
    serde_json::from_str(json)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON object")))
}
