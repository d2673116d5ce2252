//! Fuzzing on the stable toolchain: proptest drives the parsers that read untrusted text (the
//! key parser, permission names, permission expressions) with arbitrary input and input shaped
//! by the grammar. They must never panic, and what they accept and decide must equal an
//! independent reference written here (`reference_*`), not just "not crash".
//!
//! CI runs `PROPTEST_CASES` cases per target (`.ci/run`); a longer run is
//! `PROPTEST_CASES=1000000 cargo test -p keyward-core --test fuzz` (see SECURITY.md). The
//! coverage-guided targets for the same parsers are in `fuzz/` (cargo fuzz).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::key_format::checksum;
use keyward_core::query::MAX_QUERY_LEN;
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

/// The permission grammar, written independently of `Permission::parse`: `*`, or two
/// segments joined by one `:`, each `*` or 1-64 of `a-z 0-9 _ . -`; 128 bytes at most.
fn reference_valid(text: &str) -> bool {
    fn segment(s: &str) -> bool {
        s == "*"
            || (!s.is_empty()
                && s.chars().count() <= 64
                && s.chars()
                    .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-')))
    }
    if text == "*" {
        return true;
    }
    let parts: Vec<&str> = text.split(':').collect();
    text.len() <= 128 && parts.len() == 2 && segment(parts[0]) && segment(parts[1])
}

/// Whether a grant of `granted` covers `required` (both valid): `*` covers everything, and a
/// `*` segment covers any value of that segment; a required `*` is only covered by `*` (a
/// lone `*` counts as `*:*`).
fn reference_grants(granted: &str, required: &str) -> bool {
    let pair = |p: &str| match p.split_once(':') {
        Some((r, a)) => (r.to_owned(), a.to_owned()),
        None => ("*".to_owned(), "*".to_owned()),
    };
    let (gr, ga) = pair(granted);
    let (rr, ra) = pair(required);
    (gr == "*" || gr == rr) && (ga == "*" || ga == ra)
}

/// One segment, near the grammar: valid names, names at and past the 64 limit, `*`, empty,
/// and characters the grammar refuses.
fn segment_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_.-]{1,8}",
        1 => Just("*".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z]{63,66}",
        1 => "[a-z]{0,3}[A-Z :*/ä\u{0}]{1,2}[a-z]{0,3}",
    ]
}

/// A permission near the grammar: `*`, `a:b` shapes, one or three segments, junk around.
fn permission_like() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (segment_like(), segment_like()).prop_map(|(r, a)| format!("{r}:{a}")),
        1 => Just("*".to_owned()),
        1 => segment_like(),
        1 => (segment_like(), segment_like(), segment_like())
            .prop_map(|(r, a, x)| format!("{r}:{a}:{x}")),
        1 => (segment_like(), segment_like(), "[ \t]{1,2}")
            .prop_map(|(r, a, w)| format!("{w}{r}:{a}")),
        1 => "\\PC{0,20}",
    ]
}

/// A small pool, so that grants and requirements often meet.
fn pool_permission() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "*", "a:x", "a:y", "b:x", "b:y", "a:*", "b:*", "*:x", "*:y", "*:*",
    ])
    .prop_map(str::to_owned)
}

/// A permission expression as a tree, rendered to text and evaluated by the reference.
#[derive(Debug, Clone)]
enum Expr {
    One(String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn eval(&self, granted: &[String]) -> bool {
        match self {
            Expr::One(p) => granted.iter().any(|g| reference_grants(g, p)),
            Expr::And(a, b) => a.eval(granted) && b.eval(granted),
            Expr::Or(a, b) => a.eval(granted) || b.eval(granted),
        }
    }

    /// Text for the tree: parentheses where precedence needs them (`AND` binds tighter, both
    /// group to the left) and, where the next flag of `extra` says so, redundant ones; `space`
    /// separates tokens.
    fn render(&self, extra: &[bool], at: &mut usize, space: &str) -> String {
        let mut child = |e: &Expr, needed: bool| {
            let text = e.render(extra, &mut *at, space);
            let redundant = extra
                .get(*at % extra.len().max(1))
                .copied()
                .unwrap_or(false);
            *at += 1;
            if needed || redundant {
                format!("({space}{text}{space})")
            } else {
                text
            }
        };
        match self {
            Expr::One(p) => p.clone(),
            Expr::And(a, b) => {
                let left = child(a, matches!(**a, Expr::Or(..)));
                let right = child(b, !matches!(**b, Expr::One(_)));
                format!("{left}{space}AND{space}{right}")
            }
            Expr::Or(a, b) => {
                let left = child(a, false);
                let right = child(b, matches!(**b, Expr::Or(..)));
                format!("{left}{space}OR{space}{right}")
            }
        }
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    pool_permission()
        .prop_map(Expr::One)
        .prop_recursive(6, 48, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            ]
        })
}

/// Whether `query` (as parsed) holds for `granted`, by the reference rules: checks the parse
/// tree the parser built, independently of `is_satisfied_by`.
fn reference_eval(query: &PermissionQuery, granted: &[String]) -> bool {
    match query {
        PermissionQuery::One(p) => granted.iter().any(|g| reference_grants(g, p.as_str())),
        PermissionQuery::And(a, b) => reference_eval(a, granted) && reference_eval(b, granted),
        PermissionQuery::Or(a, b) => reference_eval(a, granted) || reference_eval(b, granted),
    }
}

fn parsed(granted: &[String]) -> Vec<Permission> {
    granted
        .iter()
        .map(|g| Permission::parse(g).unwrap())
        .collect()
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

    /// Permission names near the grammar are accepted exactly when the reference says so.
    #[test]
    fn fuzz_permission_parser(text in permission_like()) {
        let parsed = Permission::parse(&text);
        prop_assert_eq!(parsed.is_ok(), reference_valid(&text), "{:?}: {:?}", text, parsed);
        if let Ok(permission) = parsed {
            prop_assert_eq!(permission.as_str(), text.as_str());
            prop_assert!(permission.grants(&permission));
        }
    }

    /// Arbitrary text: what is accepted is valid by the reference, and nothing panics.
    #[test]
    fn fuzz_permission_parser_arbitrary_text(text in "\\PC{0,80}") {
        prop_assert_eq!(Permission::parse(&text).is_ok(), reference_valid(&text), "{:?}", text);
    }

    /// `grants` over a pool of wildcards and concrete permissions equals the reference.
    #[test]
    fn fuzz_permission_grants(granted in pool_permission(), required in pool_permission()) {
        let (g, r) = (Permission::parse(&granted).unwrap(), Permission::parse(&required).unwrap());
        prop_assert_eq!(g.grants(&r), reference_grants(&granted, &required), "{} grants {}?", granted, required);
    }

    #[test]
    fn fuzz_expression_parser_arbitrary_text(text in "\\PC{0,300}") {
        if let Err(e) = PermissionQuery::parse(&text) {
            prop_assert!(e.position <= text.chars().count() + 1, "{e} for {text:?}");
        }
    }

    #[test]
    fn fuzz_expression_parser_grammar_like(text in expression_like(), granted in proptest::collection::vec("[a-z*]{1,6}(:[a-z*]{1,6}){0,2}", 0..5)) {
        let granted: Vec<String> = granted.into_iter().filter(|g| Permission::parse(g).is_ok()).collect();
        match PermissionQuery::parse(&text) {
            Ok(query) => {
                prop_assert_eq!(query.is_satisfied_by(&parsed(&granted)), reference_eval(&query, &granted), "{:?}", text);
                // Every expression holds for `*` and for nothing.
                prop_assert!(query.is_satisfied_by(&parsed(&["*".to_owned()])));
                prop_assert!(!query.is_satisfied_by(&[]));
            }
            Err(e) => prop_assert!(e.position <= text.chars().count() + 1, "{e} for {text:?}"),
        }
    }

    /// Expressions generated from a tree parse, and decide exactly as the tree does by the
    /// reference rules, whatever the spacing and redundant parentheses.
    #[test]
    fn fuzz_expression_parser_generated_trees(
        tree in expr(),
        extra in proptest::collection::vec(any::<bool>(), 0..16),
        space in proptest::sample::select(vec![" ", "  ", "\t", " \n "]),
        granted in proptest::collection::vec(pool_permission(), 0..4),
    ) {
        let text = tree.render(&extra, &mut 0, space);
        match PermissionQuery::parse(&text) {
            Ok(query) => prop_assert_eq!(query.is_satisfied_by(&parsed(&granted)), tree.eval(&granted), "{:?} with {:?}", text, granted),
            Err(e) => prop_assert!(text.len() > MAX_QUERY_LEN, "{:?} refused: {}", text, e),
        }
    }

    /// Removing any one token of a valid expression makes it invalid (every valid expression
    /// has one more permission than operators, and balanced parentheses), and the error says
    /// where within the text.
    #[test]
    fn fuzz_expression_parser_one_token_removed(tree in expr(), extra in proptest::collection::vec(any::<bool>(), 0..16), drop in any::<prop::sample::Index>()) {
        let text = tree.render(&extra, &mut 0, " ");
        prop_assume!(text.len() <= MAX_QUERY_LEN);
        let spaced = text.replace('(', "( ").replace(')', " )");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        let at = drop.index(tokens.len());
        let broken = tokens.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, t)| *t).collect::<Vec<_>>().join(" ");
        match PermissionQuery::parse(&broken) {
            Ok(q) => prop_assert!(false, "{:?} without token {} ({:?}) parsed as {:?}", text, at, tokens[at], q),
            Err(e) => prop_assert!(e.position <= broken.chars().count() + 1, "{e} for {broken:?}"),
        }
    }
}

/// Inputs under the length limit that nest or chain deeply reach the parser and are refused
/// (or, within the limits, decided correctly); inputs over it are refused before parsing.
#[test]
fn deeply_nested_and_very_long_expressions_are_refused_not_a_stack_overflow() {
    // Over the length limit: refused before the parser runs, at the limit.
    for text in [
        "(".repeat(100_000),
        vec!["a:b"; 2000].join(" AND "),
        vec!["a:b"; 170].join(" AND "),
    ] {
        let err = PermissionQuery::parse(&text).expect_err("longer than the limit");
        assert_eq!(err.position, MAX_QUERY_LEN + 1, "{err}");
        assert!(err.message.contains("longer than"), "{err}");
    }
    // Found by the `permission_expression` cargo fuzz target: the position of a refusal for
    // length is a character inside the text, also when its characters take several bytes.
    for (text, position) in [
        ("é".repeat(600), 513),
        (format!("a{}", "€".repeat(400)), 343),
    ] {
        let err = PermissionQuery::parse(&text).expect_err("longer than the limit");
        assert_eq!(err.position, position, "{err}");
        assert!(err.position <= text.chars().count(), "{err}");
    }
    // Under the length limit, nested past the depth limit: the parser refuses it.
    for depth in [33, 100, 500, 510] {
        let mut texts = vec![
            format!("{}a:b{}", "(".repeat(depth), ")".repeat(depth)),
            "(".repeat(depth),
        ];
        if depth <= 100 {
            texts.push(format!("{}a:b", "( a:b AND ".repeat(depth)));
        }
        for text in texts {
            assert!(text.len() <= MAX_QUERY_LEN, "{} bytes", text.len());
            let err = PermissionQuery::parse(&text).expect_err("nested too deep");
            assert!(
                err.message.contains("nested deeper than 32"),
                "{depth}: {err}"
            );
            let thirty_third = text
                .char_indices()
                .filter(|(_, c)| *c == '(')
                .nth(32)
                .map(|(i, _)| i + 1);
            assert_eq!(Some(err.position), thirty_third, "the 33rd '(': {err}");
        }
    }
    let granted = parsed(&["a:b".to_owned()]);
    // At the depth limit: parsed and decided.
    let text = format!("{}a:b{}", "(".repeat(32), ")".repeat(32));
    let query = PermissionQuery::parse(&text).expect("32 levels are allowed");
    assert!(query.is_satisfied_by(&granted));
    // A long chain under the length limit: parsed, decided, and dropped without recursion
    // trouble.
    for op in [" AND ", " OR "] {
        let text = vec!["a:b"; 120].join(op);
        assert!(text.len() <= MAX_QUERY_LEN);
        let query = PermissionQuery::parse(&text).expect("a long chain within the limit");
        assert!(query.is_satisfied_by(&granted), "{op}");
        assert!(!query.is_satisfied_by(&parsed(&["a:c".to_owned()])), "{op}");
    }
}
