//! Permissions are `resource:action` strings. A granted `*` matches one whole segment
//! (`invoices:*`) or, alone, everything. A required permission is always concrete in the
//! segments the caller names: asking for `invoices:*` is only satisfied by a grant of
//! `invoices:*` or `*`, never by `invoices:read`.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_PERMISSION_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// The offending text is deliberately not part of the message: people paste keys into the
/// wrong field, and an error must never echo a key back (or into a log).
#[error("invalid permission: {reason}")]
pub struct PermissionError {
    reason: &'static str,
}

/// A valid permission: `*`, or `resource:action` where each segment is `*` or
/// 1-64 characters of `[a-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission(String);

impl Permission {
    pub fn parse(s: &str) -> Result<Self, PermissionError> {
        let fail = |reason| PermissionError { reason };
        if s.len() > MAX_PERMISSION_LEN {
            return Err(fail("longer than 128 characters"));
        }
        if s == "*" {
            return Ok(Self(s.to_owned()));
        }
        let Some((resource, action)) = s.split_once(':') else {
            return Err(fail("expected resource:action, e.g. invoices:read"));
        };
        for segment in [resource, action] {
            let valid_name = (1..=64).contains(&segment.len())
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
            if segment != "*" && !valid_name {
                return Err(fail(
                    "each part must be * or 1-64 of a-z, 0-9, '_', '.', '-' (one ':' between them)",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether holding `self` grants `required`.
    pub fn grants(&self, required: &Permission) -> bool {
        if self.0 == "*" {
            return true;
        }
        let split = |p: &Permission| -> (String, String) {
            match p.0.split_once(':') {
                Some((r, a)) => (r.to_owned(), a.to_owned()),
                None => ("*".to_owned(), "*".to_owned()),
            }
        };
        let ((gr, ga), (rr, ra)) = (split(self), split(required));
        (gr == "*" || gr == rr) && (ga == "*" || ga == ra)
    }

    /// Whether any of `granted` grants `required`.
    pub fn any_grants(granted: &[Permission], required: &Permission) -> bool {
        granted.iter().any(|g| g.grants(required))
    }
}

impl TryFrom<String> for Permission {
    type Error = PermissionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> Self {
        p.0
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap()
    }

    #[test]
    fn parses_and_rejects() {
        for good in [
            "*",
            "invoices:read",
            "invoices:*",
            "*:read",
            "payroll.v2:export-all",
        ] {
            assert!(Permission::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "invoices",
            "invoices:",
            ":read",
            "Invoices:read",
            "a:b:c",
            "a b:c",
            "**",
            "in*:read",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_grant_whole_segments() {
        assert!(p("*").grants(&p("payroll:export")));
        assert!(p("invoices:*").grants(&p("invoices:delete")));
        assert!(!p("invoices:*").grants(&p("payroll:read")));
        assert!(p("*:read").grants(&p("payroll:read")));
        assert!(!p("invoices:read").grants(&p("invoices:*")));
        assert!(!p("invoices:read").grants(&p("*")));
        assert!(p("invoices:read").grants(&p("invoices:read")));
    }

    proptest! {
        #[test]
        fn a_wildcard_grants_everything_its_concrete_forms_grant(
            r in "[a-z]{1,6}", a in "[a-z]{1,6}", r2 in "[a-z]{1,6}", a2 in "[a-z]{1,6}"
        ) {
            let concrete = p(&format!("{r}:{a}"));
            let required = p(&format!("{r2}:{a2}"));
            for wider in [p(&format!("{r}:*")), p(&format!("*:{a}")), p("*")] {
                if concrete.grants(&required) {
                    prop_assert!(wider.grants(&required));
                }
            }
            prop_assert!(concrete.grants(&concrete));
        }
    }
}
