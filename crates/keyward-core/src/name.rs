//! Key names: required, 3-100 characters, and descriptive. A generic name ("API", "key",
//! "test", …) tells nobody which integration holds the key, so it is refused with a hint.

use std::fmt;

pub const MIN_NAME_CHARS: usize = 3;
pub const MAX_NAME_CHARS: usize = 100;
pub const NAME_HINT: &str =
    "name the key after the integration that uses it, e.g. \"Stripe Invoice Sending Integration\"";

/// Names that say nothing about where a key is used (compared case-insensitively, after
/// collapsing spaces, '-' and '_'). Refused outright; the safety advice
/// (`crate::advice`) also counts them as words that say nothing.
pub const GENERIC_NAMES: &[&str] = &[
    "api",
    "apikey",
    "api key",
    "key",
    "keys",
    "my key",
    "mykey",
    "test",
    "testing",
    "test key",
    "token",
    "api token",
    "secret",
    "default",
    "new",
    "new key",
    "newkey",
    "temp",
    "tmp",
    "foo",
    "bar",
    "asdf",
    "qwerty",
    "xxx",
    "abc",
    "untitled",
    "main",
    "prod",
    "production",
    "dev",
    "staging",
    "key1",
    "key 1",
    "key2",
    "my api key",
    "access key",
    "access token",
    "password",
    "example",
    "sample",
    "demo",
    "none",
    "null",
    "misc",
    "general",
    "stuff",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a key name is required: {NAME_HINT}")]
    Empty,
    #[error("a key name must be {MIN_NAME_CHARS}-{MAX_NAME_CHARS} characters: {NAME_HINT}")]
    Length,
    #[error("a key name must not contain control characters")]
    Control,
    /// Zero-width, bidirectional and other invisible characters make a name look like
    /// another live key's name (and a bidi override can make it read backwards).
    #[error("a key name must not contain invisible characters (zero-width, bidirectional or other formatting characters), which make it look like another name")]
    Invisible,
    #[error("{0:?} is too generic to tell which integration holds the key: {NAME_HINT}")]
    Generic(String),
}

/// A descriptive, trimmed key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if !(MIN_NAME_CHARS..=MAX_NAME_CHARS).contains(&name.chars().count()) {
            return Err(NameError::Length);
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::Control);
        }
        if name.chars().any(crate::text::is_invisible) {
            return Err(NameError::Invisible);
        }
        let normalized = normalized(name);
        if GENERIC_NAMES.contains(&normalized.as_str()) {
            return Err(NameError::Generic(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A name as the generic-name lists compare it: lower case, '-', '_' and '.' as spaces,
/// spaces collapsed.
pub fn normalized(name: &str) -> String {
    name.to_lowercase()
        .replace(['-', '_', '.'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptive_names_pass_and_are_trimmed() {
        let n = KeyName::parse("  Stripe Invoice Sending Integration ").unwrap();
        assert_eq!(n.as_str(), "Stripe Invoice Sending Integration");
    }

    #[test]
    fn generic_and_bad_names_are_refused_with_a_hint() {
        for generic in [
            "API", "key", "Test", "TOKEN", "default", "New Key", "new_key", "api-key",
        ] {
            let err = KeyName::parse(generic).unwrap_err();
            assert!(matches!(err, NameError::Generic(_)), "{generic}");
            assert!(err
                .to_string()
                .contains("Stripe Invoice Sending Integration"));
        }
        assert_eq!(KeyName::parse("   "), Err(NameError::Empty));
        assert_eq!(KeyName::parse("ab"), Err(NameError::Length));
        assert_eq!(KeyName::parse(&"x".repeat(101)), Err(NameError::Length));
        assert_eq!(KeyName::parse("Payroll\nExport"), Err(NameError::Control));
    }

    #[test]
    fn names_with_invisible_or_bidi_characters_are_refused() {
        for look_alike in [
            "Stripe\u{200B} Invoice Sending",
            "Stripe Invoice\u{200D} Sending",
            "\u{FEFF}Stripe Invoice Sending",
            "Stripe\u{2060}Invoice Sending",
            "Payroll \u{202E}tropxE",
            "Payroll \u{2066}Export\u{2069}",
            "Payroll\u{200F} Export",
            "Payroll Ex\u{00AD}port",
        ] {
            assert_eq!(
                KeyName::parse(look_alike),
                Err(NameError::Invisible),
                "{look_alike:?}"
            );
        }
        assert!(KeyName::parse("Café Crème Payroll Export — 請求書").is_ok());
    }
}
