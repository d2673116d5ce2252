//! Audit levels per action: a workspace's ordered rules `{pattern, level}` choose how a
//! verification is recorded from the action its calling service named (`invoices.delete`),
//! so high-volume reads can be aggregated while deletes stay recorded one by one. The first
//! rule whose pattern matches wins; with none, the workspace's `verification_audit` applies.
//!
//! A pattern is matched like a permission's segments (`permission.rs`): `*` alone matches
//! every verification, with or without an action; otherwise the pattern and the action are
//! split on `.` and must have as many segments, each pattern segment `*` (any one segment)
//! or equal to the action's (`*.read`, `invoices.*`, `invoices.read`).

use crate::model::VerificationAudit;
use crate::redact::{redact, Redaction};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// At most this many rules per workspace: the hot path walks them for every verification.
pub const MAX_AUDIT_RULES: usize = 32;
/// Longest pattern, in bytes (as long as a permission).
pub const MAX_PATTERN_LEN: usize = 128;
/// Longest segment of a pattern.
const MAX_SEGMENT_LEN: usize = 64;

/// Why a pattern or a rule list was refused. The offending text is not part of the message
/// (as for permissions): people paste keys into the wrong field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditRuleError {
    #[error("at most {MAX_AUDIT_RULES} audit rules")]
    TooMany,
    #[error("audit_rules[{index}].pattern: {reason}")]
    Pattern { index: usize, reason: &'static str },
    #[error("audit_rules[{index}].pattern repeats an earlier rule's pattern")]
    Repeated { index: usize },
}

/// A valid action pattern (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActionPattern(String);

impl ActionPattern {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.len() > MAX_PATTERN_LEN {
            return Err("longer than 128 characters");
        }
        if s == "*" {
            return Ok(Self(s.to_owned()));
        }
        for segment in s.split('.') {
            let valid_name = (1..=MAX_SEGMENT_LEN).contains(&segment.len())
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-:/".contains(&b));
            if segment != "*" && !valid_name {
                return Err(
                    "each '.'-separated part must be * or 1-64 of A-Z, a-z, 0-9, '_', '-', ':', '/'",
                );
            }
        }
        // Rules are shown in settings and in the audit trail: a key pasted here must not be
        // kept (a key with a typo neither: it is still most of a secret).
        if matches!(redact(s, Redaction::KeyShaped), Cow::Owned(_)) {
            return Err("looks like an API key; a pattern names actions");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a verification whose context named `action` (none: it named no action)
    /// matches. Allocation-free: it runs for every verification.
    pub fn matches(&self, action: Option<&str>) -> bool {
        if self.0 == "*" {
            return true;
        }
        let Some(action) = action else {
            return false;
        };
        let mut wanted = self.0.split('.');
        let mut given = action.split('.');
        loop {
            match (wanted.next(), given.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w == "*" || w == g => {}
                _ => return false,
            }
        }
    }
}

impl TryFrom<String> for ActionPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).map_err(str::to_owned)
    }
}

impl From<ActionPattern> for String {
    fn from(p: ActionPattern) -> Self {
        p.0
    }
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One rule: verifications whose action matches `pattern` are recorded at `level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRule {
    pub pattern: ActionPattern,
    pub level: VerificationAudit,
}

/// A workspace's rules, in order (the first match wins), at most [`MAX_AUDIT_RULES`], no
/// pattern twice (a repeated pattern could never match: the earlier one wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<AuditRule>", into = "Vec<AuditRule>")]
pub struct AuditRules(Vec<AuditRule>);

impl AuditRules {
    /// Rules from `(pattern, level)` pairs as a client sent them; an error names the rule's
    /// position.
    pub fn parse<'a>(
        raw: impl ExactSizeIterator<Item = (&'a str, VerificationAudit)>,
    ) -> Result<Self, AuditRuleError> {
        if raw.len() > MAX_AUDIT_RULES {
            return Err(AuditRuleError::TooMany);
        }
        let rules = raw
            .enumerate()
            .map(|(index, (pattern, level))| {
                ActionPattern::parse(pattern)
                    .map(|pattern| AuditRule { pattern, level })
                    .map_err(|reason| AuditRuleError::Pattern { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(rules)
    }

    pub fn new(rules: Vec<AuditRule>) -> Result<Self, AuditRuleError> {
        if rules.len() > MAX_AUDIT_RULES {
            return Err(AuditRuleError::TooMany);
        }
        for (index, rule) in rules.iter().enumerate() {
            if rules[..index].iter().any(|r| r.pattern == rule.pattern) {
                return Err(AuditRuleError::Repeated { index });
            }
        }
        Ok(Self(rules))
    }

    pub fn rules(&self) -> &[AuditRule] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The level of a verification that named `action`: the first matching rule's, else
    /// `default` (the workspace's `verification_audit`).
    pub fn level(&self, action: Option<&str>, default: VerificationAudit) -> VerificationAudit {
        self.0
            .iter()
            .find(|rule| rule.pattern.matches(action))
            .map_or(default, |rule| rule.level)
    }

    /// The rules as stored: a JSON array of `{"pattern", "level"}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Rules as stored; `None` when the text is not a valid rule list.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

impl TryFrom<Vec<AuditRule>> for AuditRules {
    type Error = AuditRuleError;
    fn try_from(rules: Vec<AuditRule>) -> Result<Self, Self::Error> {
        Self::new(rules)
    }
}

impl From<AuditRules> for Vec<AuditRule> {
    fn from(rules: AuditRules) -> Self {
        rules.0
    }
}

impl fmt::Display for AuditRules {
    /// `invoices.delete:all; *.read:aggregate`, for the settings' audit event.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}:{}", rule.pattern, rule.level.as_str())?;
        }
        Ok(())
    }
}

/// What becomes of one verification in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDecision {
    /// Its own event, durable before the answer.
    Record,
    /// Counted in its minute's aggregate event.
    Aggregate,
    /// Not recorded.
    Skip,
}

impl VerificationAudit {
    /// What a verification that answered `valid` becomes at this level.
    pub fn decide(self, valid: bool) -> AuditDecision {
        match self {
            Self::All => AuditDecision::Record,
            Self::Failures if !valid => AuditDecision::Record,
            Self::Aggregate => AuditDecision::Aggregate,
            Self::Failures | Self::None => AuditDecision::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use VerificationAudit::{Aggregate, All, Failures, None as Off};

    fn rules(list: &[(&str, VerificationAudit)]) -> AuditRules {
        AuditRules::parse(list.iter().copied()).unwrap()
    }

    #[test]
    fn patterns_parse_like_permission_segments() {
        for good in [
            "*",
            "invoices.read",
            "*.read",
            "invoices.*",
            "GET",
            "payroll.v2-export",
            "a.*.c",
        ] {
            assert!(ActionPattern::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "invoices.",
            ".read",
            "invoices..read",
            "invoices read",
            "invoices.re*d",
            "**",
            "x\u{202E}",
            &"a".repeat(65),
            &"a.".repeat(64),
        ] {
            assert!(ActionPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_pattern_matches_whole_segments_only() {
        let p = |s: &str| ActionPattern::parse(s).unwrap();
        assert!(p("*").matches(None));
        assert!(p("*").matches(Some("anything.at.all")));
        assert!(p("*.read").matches(Some("invoices.read")));
        assert!(!p("*.read").matches(Some("invoices.reader")));
        assert!(!p("*.read").matches(Some("read")));
        assert!(!p("*.read").matches(Some("a.b.read")));
        assert!(p("invoices.*").matches(Some("invoices.delete")));
        assert!(!p("invoices.*").matches(Some("invoices")));
        assert!(!p("invoices.*").matches(None));
        assert!(p("invoices.read").matches(Some("invoices.read")));
        assert!(!p("invoices.read").matches(Some("Invoices.read")));
        assert!(!p("invoices.read").matches(Some("invoices.read.x")));
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_setting_is_the_default() {
        let r = rules(&[
            ("invoices.delete", All),
            ("invoices.*", Failures),
            ("*.read", Aggregate),
        ]);
        assert_eq!(r.level(Some("invoices.delete"), Off), All);
        assert_eq!(r.level(Some("invoices.read"), Off), Failures);
        assert_eq!(r.level(Some("payroll.read"), Off), Aggregate);
        assert_eq!(r.level(Some("payroll.write"), Off), Off);
        assert_eq!(r.level(None, Failures), Failures);
        assert_eq!(AuditRules::default().level(Some("x"), All), All);
    }

    #[test]
    fn rule_lists_are_bounded_and_refuse_repeats_by_position() {
        let many: Vec<String> = (0..=MAX_AUDIT_RULES).map(|i| format!("a{i}")).collect();
        let list = |n: usize| many[..n].iter().map(|s| (s.as_str(), All));
        assert!(AuditRules::parse(list(MAX_AUDIT_RULES)).is_ok());
        assert_eq!(
            AuditRules::parse(list(MAX_AUDIT_RULES + 1)),
            Err(AuditRuleError::TooMany)
        );
        let repeated = [("x.read", All), ("y", All), ("x.read", Off)];
        assert_eq!(
            AuditRules::parse(repeated.into_iter()),
            Err(AuditRuleError::Repeated { index: 2 })
        );
        let err = AuditRules::parse([("ok", All), ("bos_secret key", All)].into_iter())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("audit_rules[1].pattern: "), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn a_key_is_never_kept_as_a_pattern() {
        let key = crate::ApiKey::generate(&crate::KeyPrefix::parse("bos").unwrap()).unwrap();
        for pattern in [
            key.expose().to_owned(),
            format!("invoices.{}", key.expose()),
        ] {
            let err = AuditRules::parse([(pattern.as_str(), All)].into_iter())
                .unwrap_err()
                .to_string();
            assert!(err.contains("looks like an API key"), "{err}");
            assert!(!err.contains(key.expose()), "{err}");
        }
    }

    #[test]
    fn rules_round_trip_through_their_stored_json() {
        let r = rules(&[("invoices.delete", All), ("*.read", Aggregate)]);
        let json = r.to_json();
        assert_eq!(
            json,
            r#"[{"pattern":"invoices.delete","level":"all"},{"pattern":"*.read","level":"aggregate"}]"#
        );
        assert_eq!(AuditRules::from_json(&json), Some(r.clone()));
        assert_eq!(AuditRules::from_json("[]"), Some(AuditRules::default()));
        assert_eq!(
            AuditRules::from_json(r#"[{"pattern":"","level":"all"}]"#),
            None
        );
        assert_eq!(r.to_string(), "invoices.delete:all; *.read:aggregate");
    }

    #[test]
    fn each_level_decides_what_a_verification_becomes() {
        use AuditDecision::{Aggregate as Agg, Record, Skip};
        assert_eq!(All.decide(true), Record);
        assert_eq!(All.decide(false), Record);
        assert_eq!(Failures.decide(true), Skip);
        assert_eq!(Failures.decide(false), Record);
        assert_eq!(Aggregate.decide(true), Agg);
        assert_eq!(Aggregate.decide(false), Agg);
        assert_eq!(Off.decide(true), Skip);
        assert_eq!(Off.decide(false), Skip);
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_exactly_its_own_action(
            action in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}",
            other in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}",
        ) {
            let p = ActionPattern::parse(&action).unwrap();
            prop_assert!(p.matches(Some(&action)));
            prop_assert_eq!(p.matches(Some(&other)), action == other);
            // Each segment replaced by `*` still matches the action it came from.
            let wild = action.split('.').map(|_| "*").collect::<Vec<_>>().join(".");
            prop_assert!(ActionPattern::parse(&wild).unwrap().matches(Some(&action)));
        }
    }
}
