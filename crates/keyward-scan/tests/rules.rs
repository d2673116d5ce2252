//! The gitleaks and trufflehog rules in docs/ use keyward's published pattern: they match
//! generated keys and refuse near-misses (wrong character set, too short).

// Test helpers outside `#[test]` functions: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::key_format::KEY_REGEX;
use keyward_core::{ApiKey, KeyPrefix};
use proptest::prelude::*;
use regex::Regex;

fn doc(name: &str) -> String {
    let path = format!("{}/../../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The text between `open` and the next `close` on the first line starting with `field`.
fn field(text: &str, field: &str, open: &str, close: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} line"));
    let start = line.find(open).unwrap() + open.len();
    let end = line[start..].find(close).unwrap() + start;
    line[start..end].to_owned()
}

fn patterns() -> Vec<(&'static str, Regex)> {
    let gitleaks = field(&doc("gitleaks.toml"), "regex =", "'''", "'''");
    let trufflehog = field(&doc("trufflehog.yaml"), "key:", "'", "'");
    assert_eq!(
        gitleaks, KEY_REGEX,
        "gitleaks.toml drifted from the key format"
    );
    assert_eq!(
        trufflehog, KEY_REGEX,
        "trufflehog.yaml drifted from the key format"
    );
    vec![
        ("gitleaks", Regex::new(&gitleaks).unwrap()),
        ("trufflehog", Regex::new(&trufflehog).unwrap()),
    ]
}

#[test]
fn near_misses_are_refused() {
    let body = "5Qm2R7pLwTq8xY3kZ9vB1nM4cD6fG0hJ2s";
    let near_misses = [
        format!("BOS_{body}ABCDEF"),
        format!("bos_{}", &body[..30]),
        format!("bos_{}-{}", &body[..20], &body[..20]),
        format!("b_{body}ABCDEF"),
        format!("bos{body}ABCDEF"),
        format!("bos_{}", "é".repeat(40)),
    ];
    for (tool, re) in patterns() {
        for text in &near_misses {
            assert!(!re.is_match(text), "{tool} matched {text:?}");
        }
    }
}

proptest! {
    #[test]
    fn rules_match_generated_keys(
        issuer in "[a-z0-9]{2,16}",
        env in proptest::option::of("[a-z0-9]{2,16}"),
    ) {
        let prefix = match env { Some(e) => format!("{issuer}_{e}"), None => issuer };
        let key = ApiKey::generate(&KeyPrefix::parse(&prefix).unwrap()).unwrap();
        let line = format!("STRIPE_KEY=\"{}\" # handover", key.expose());
        for (tool, re) in patterns() {
            let found = re.find(&line).map(|m| m.as_str());
            prop_assert_eq!(found, Some(key.expose()), "{}", tool);
        }
    }
}
