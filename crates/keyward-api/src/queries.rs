//! The query strings of the listing endpoints, as typed values: each turns into its query
//! pairs in a fixed order, with only the parameters given.

use crate::enums::{AuditKind, AuditOutcome, KeyStatus};
use chrono::{DateTime, SecondsFormat, Utc};

/// `GET /v1/keys?owner_id=…&status=…&limit=…&cursor=…`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyListQuery {
    /// Only keys of this owner.
    pub owner_id: Option<String>,
    pub status: Option<KeyStatus>,
    /// Keys per page (the server's default is 100).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl KeyListQuery {
    /// The query pairs, in the order of the fields, without the ones not given.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(owner) = &self.owner_id {
            pairs.push(("owner_id", owner.clone()));
        }
        if let Some(status) = &self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        pairs
    }
}

/// `GET /v1/audit` and `GET /v1/audit/export`: every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this key.
    pub key_id: Option<String>,
    pub kind: Option<AuditKind>,
    /// Only verifications of this action, as the calling service passed it.
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events per page, 1–1000 (the server's default is 100); the export checks the range
    /// but sends every event.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: only older events (the export too).
    pub cursor: Option<String>,
}

impl AuditQuery {
    /// The query pairs, in the order of the fields, without the ones not given; times in
    /// UTC with milliseconds, the precision events are stored with.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let time = |at: &DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut pairs = Vec::new();
        if let Some(key) = &self.key_id {
            pairs.push(("key_id", key.clone()));
        }
        if let Some(kind) = &self.kind {
            pairs.push(("kind", kind.as_str().to_owned()));
        }
        if let Some(action) = &self.action {
            pairs.push(("action", action.clone()));
        }
        if let Some(outcome) = &self.outcome {
            pairs.push(("outcome", outcome.as_str().to_owned()));
        }
        if let Some(since) = &self.since {
            pairs.push(("since", time(since)));
        }
        if let Some(until) = &self.until {
            pairs.push(("until", time(until)));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_parameters_are_sent_in_a_fixed_order() {
        assert!(KeyListQuery::default().pairs().is_empty());
        assert!(AuditQuery::default().pairs().is_empty());
        let query = AuditQuery {
            key_id: Some("key_1".into()),
            kind: Some(AuditKind::KeyVerified),
            outcome: Some(AuditOutcome::Verify(crate::VerifyCode::Revoked)),
            since: "2026-01-31T00:00:00.5+01:00".parse().ok(),
            limit: Some(5),
            ..AuditQuery::default()
        };
        assert_eq!(
            query.pairs(),
            [
                ("key_id", "key_1".to_owned()),
                ("kind", "key.verified".to_owned()),
                ("outcome", "REVOKED".to_owned()),
                ("since", "2026-01-30T23:00:00.500Z".to_owned()),
                ("limit", "5".to_owned()),
            ]
        );
    }
}
