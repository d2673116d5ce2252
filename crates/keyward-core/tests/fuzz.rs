//! Fuzzing on the stable toolchain: proptest drives the parsers that read untrusted text (the
//! key parser, permission names, permission expressions) with arbitrary input and input close
//! to the grammar. They must never panic, and what they accept must be consistent.
//!
//! CI runs proptest's default 256 cases per target; a longer run is
//! `PROPTEST_CASES=1000000 cargo test -p keyward-core --test fuzz` (see SECURITY.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::key_format::checksum;
use keyward_core::{ApiKey, KeyHash, KeyPrefix, Permission, PermissionQuery};
use proptest::prelude::*;

/// Text near the key grammar: prefixes, underscores and base62 runs of every length.
fn key_like() -> impl Strategy<Value = String> {
    "[a-z0-9_]{0,20}(_[A-Za-z0-9]{0,60})?"
}

/// Text near the expression grammar.
fn expression_like() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        "[a-z*]{1,8}(:[a-z*]{1,8}){0,3}",
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("AND".to_owned()),
        Just("OR".to_owned()),
        Just("and".to_owned()),
        "[ \t]{0,2}",
        "\\PC{0,3}",
    ];
    proptest::collection::vec(atom, 0..40).prop_map(|parts| parts.join(" "))
}

proptest! {
    #[test]
    fn fuzz_key_parser_arbitrary_text(text in "\\PC{0,200}") {
        if let Ok(key) = ApiKey::parse(&text) {
            prop_assert_eq!(key.expose(), text.as_str());
        }
    }

    #[test]
    fn fuzz_key_parser_key_like_text(text in key_like()) {
        if let Ok(key) = ApiKey::parse(&text) {
            // Accepted means: the text itself, with a correct checksum over what precedes it.
            prop_assert_eq!(key.expose(), text.as_str());
            let (signed, sum) = text.split_at(text.len() - 6);
            prop_assert_eq!(sum.as_bytes(), &checksum(signed)[..]);
            let _ = KeyHash::of(key.expose());
        }
    }

    #[test]
    fn fuzz_key_parser_mutated_keys(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let key = ApiKey::generate(&KeyPrefix::parse("bos_live").unwrap()).unwrap();
        let mut bytes = key.expose().as_bytes().to_vec();
        let at = position.index(bytes.len());
        let changed = bytes[at] != byte;
        bytes[at] = byte;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match ApiKey::parse(&text) {
            // One changed byte anywhere is caught: the CRC-32 covers prefix and body, and
            // detects every single-byte error.
            Ok(parsed) => prop_assert!(!changed, "{} accepted", parsed.start()),
            Err(_) => prop_assert!(changed),
        }
    }

    #[test]
    fn fuzz_permission_parser(text in "\\PC{0,80}") {
        if let Ok(permission) = Permission::parse(&text) {
            prop_assert_eq!(permission.as_str(), text.as_str());
            prop_assert!(permission.grants(&permission));
        }
    }

    #[test]
    fn fuzz_expression_parser_arbitrary_text(text in "\\PC{0,300}") {
        let _ = PermissionQuery::parse(&text);
    }

    #[test]
    fn fuzz_expression_parser_grammar_like(text in expression_like(), granted in proptest::collection::vec("[a-z*]{1,6}(:[a-z*]{1,6}){0,2}", 0..5)) {
        let granted: Vec<Permission> = granted.iter().filter_map(|g| Permission::parse(g).ok()).collect();
        match PermissionQuery::parse(&text) {
            Ok(query) => { let _ = query.is_satisfied_by(&granted); }
            Err(e) => prop_assert!(e.position <= text.chars().count() + 1, "{e} for {text:?}"),
        }
    }
}

#[test]
fn deeply_nested_and_very_long_expressions_are_refused_not_a_stack_overflow() {
    for text in [
        "(".repeat(100_000),
        format!("{}a{}", "(".repeat(40), ")".repeat(40)),
        vec!["a:b"; 2000].join(" AND "),
        vec!["a:b"; 170].join(" AND "),
    ] {
        let _ = PermissionQuery::parse(&text);
    }
}
