//! `POST /v1/leaks`: anyone who finds a key where it should not be reports it here, with
//! where it was found; every valid key is revoked. Written by hand: `Debug` of these types
//! never shows a key.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Most keys in one report; the CLI sends larger finds in several reports.
pub const MAX_LEAK_KEYS: usize = 50;
/// Longest `location` of one key, in characters.
pub const MAX_LEAK_LOCATION_CHARS: usize = 500;
/// Longest `source`, in characters.
pub const MAX_LEAK_SOURCE_CHARS: usize = 200;

/// `POST /v1/leaks`: `{"keys": ["bos_…", {"key": "bos_…", "location": "notes.docx: word/document.xml"}], "source": "…"}`
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// 1-50 keys.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 50))]
    pub keys: Vec<LeakedKey>,
    /// Who or what found them: a person, a tool, a repository (`keyward scan on build-7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One reported key: the bare key text, or the key with where it was found.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LeakedKey {
    Bare(String),
    Located(LocatedKey),
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LocatedKey {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl LeakedKey {
    pub fn key(&self) -> &str {
        match self {
            Self::Bare(key) => key,
            Self::Located(located) => &located.key,
        }
    }

    pub fn location(&self) -> Option<&str> {
        match self {
            Self::Bare(_) => None,
            Self::Located(located) => located.location.as_deref(),
        }
    }
}

impl fmt::Debug for LeakedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakedKey")
            .field("key", &"[redacted]")
            .field("location", &self.location())
            .finish()
    }
}

impl fmt::Debug for LocatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocatedKey")
            .field("key", &"[redacted]")
            .field("location", &self.location)
            .finish()
    }
}

impl fmt::Debug for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakReport")
            .field("keys", &self.keys)
            .field("source", &self.source)
            .finish()
    }
}

/// `202` from `POST /v1/leaks`: the same answer whether or not any key was valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeakReportAccepted {
    /// How many keys the report held (not how many were valid).
    pub received: usize,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_parse_and_debug_hides_keys() {
        let report: LeakReport = serde_json::from_str(
            r#"{"keys": ["bos_secret1", {"key": "bos_secret2", "location": "a.docx"}], "source": "me"}"#,
        )
        .unwrap();
        assert_eq!(report.keys[0].key(), "bos_secret1");
        assert_eq!(report.keys[1].location(), Some("a.docx"));
        let shown = format!("{report:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(serde_json::from_str::<LeakReport>(r#"{"keys": [], "extra": 1}"#).is_err());
        assert!(serde_json::from_str::<LeakReport>(r#"{"keys": [{"key": "k", "x": 1}]}"#).is_err());
        assert!(serde_json::from_str::<LeakReport>(r#"{"keys": [1]}"#).is_err());
    }
}
