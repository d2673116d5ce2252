//! Keys inside free text: finds the words that [`KEY_REGEX`](crate::KEY_REGEX) matches, and
//! checksum-valid keys glued to other characters, and replaces them, so text a client sent
//! can be stored or echoed without the key in it.
//!
//! The pattern needs a word boundary at both ends and `_` is a word character, so a match is
//! always a whole run of `[A-Za-z0-9_]` (with ASCII word boundaries, as `keyward scan`
//! matches): this module splits text into such runs and checks each run's shape by hand
//! instead of compiling a regular expression, which keeps `keyward-core` free of `regex` and
//! lets verification skip the work for text that cannot hold a key.
//!
//! A key can also sit inside a longer run: after `%3D` (URL-encoded `=`), `x` or `0`, or
//! before more letters. Those are found by checksum ([`valid_key_spans`]): every place in a
//! run where a prefix and `_` begin is a candidate start, and every end within the longest
//! tail the pattern allows (200 characters) whose last 6 characters are the checksum of what
//! precedes them is a key. Starts are bounded by the prefix length (16, or two parts of 16)
//! around each `_`, and each candidate's CRC-32 is computed incrementally over at most 234
//! bytes, so the work is linear in the run with a small constant; a random 6 characters
//! pass the checksum with odds of 1 in 62⁶.

use crate::key_format::{checksum, checksum_digits, ApiKey, BODY_LEN, CHECKSUM_LEN};
use std::borrow::Cow;

/// Shortest text the key pattern matches: a 2-character prefix, `_`, 38 characters.
const MIN_KEY_SHAPED_LEN: usize = 2 + 1 + BODY_LEN + CHECKSUM_LEN;
/// Longest body and checksum the pattern matches.
const MAX_SHAPED_TAIL: usize = 200;

/// Which words are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redaction {
    /// Keys with a valid checksum only (real keys), each as `start…` (`bos_5Qm2…`). For text
    /// that is kept, such as the audit trail: an id that merely looks like a key stays.
    ValidKeys,
    /// Every word the key pattern matches: keys as `start…`, the rest as `prefix_…`. For
    /// text that echoes what a client sent (error messages), where a key with a typo is
    /// still most of a secret.
    KeyShaped,
}

/// `text` with the words `mode` selects replaced; borrowed, with no allocation, when nothing
/// needs replacing (the common case: most text is shorter than a key or has no `_`).
pub fn redact(text: &str, mode: Redaction) -> Cow<'_, str> {
    if !could_hold_key(text) {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    // Where the text not yet copied to `out` starts.
    let mut copied = 0;
    for (start, end) in word_runs(text.as_bytes()) {
        let word = &text[start..end];
        if let Some(replacement) = replacement(word, mode) {
            let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buffer.push_str(&text[copied..start]);
            buffer.push_str(&replacement);
            copied = end;
            continue;
        }
        // Not a whole key: a valid key may still be glued inside the run.
        for (key_start, key_end) in keys_in_run(text.as_bytes(), start, end) {
            let Ok(key) = ApiKey::parse(&text[key_start..key_end]) else {
                continue;
            };
            let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buffer.push_str(&text[copied..key_start]);
            buffer.push_str(&key.start());
            buffer.push('…');
            copied = key_end;
        }
    }
    match out {
        Some(mut buffer) => {
            buffer.push_str(&text[copied..]);
            Cow::Owned(buffer)
        }
        None => Cow::Borrowed(text),
    }
}

/// The byte ranges, in order and not overlapping, of the checksum-valid keys in `bytes`
/// (ASCII-compatible text): whole words the published pattern matches, and keys glued to
/// other word characters before or after them (`%3Dbos_…`, `xbos_…`, `bos_…abc`). Each range
/// is a key [`ApiKey::parse`] accepts. Allocates only when a key is found.
pub fn valid_key_spans(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let runs = could_hold_key_bytes(bytes).then(|| word_runs(bytes));
    runs.into_iter()
        .flatten()
        .flat_map(move |(start, end)| keys_in_run(bytes, start, end))
}

/// The checksum-valid keys inside the word run `bytes[run_start..run_end]`, leftmost first.
fn keys_in_run(bytes: &[u8], run_start: usize, run_end: usize) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    // Keys do not overlap: a later one starts at or after the end of the one before.
    let mut from = run_start;
    let mut at = run_start;
    while let Some(offset) = bytes[at..run_end].iter().position(|&b| b == b'_') {
        let underscore = at + offset;
        at = underscore + 1;
        if underscore < from + MIN_PREFIX {
            continue;
        }
        // The longest stretch of prefix characters (at most 16) ending at this `_`.
        let mut lowest = underscore;
        while lowest > from && underscore - lowest < MAX_PREFIX && is_prefix_byte(bytes[lowest - 1])
        {
            lowest -= 1;
        }
        if underscore - lowest < MIN_PREFIX {
            continue;
        }
        // An environment part after the `_`, then a second `_`, for `bos_live_…`.
        let environment = prefix_part_len(&bytes[underscore + 1..run_end])
            .filter(|&len| bytes.get(underscore + 1 + len) == Some(&b'_'))
            .map(|len| underscore + 1 + len + 1);
        let key = (lowest..=underscore - MIN_PREFIX).find_map(|start| {
            [Some(underscore + 1), environment]
                .into_iter()
                .flatten()
                .find_map(|tail| checksum_end(bytes, start, tail, run_end))
                .map(|end| (start, end))
        });
        if let Some((start, end)) = key {
            found.push((start, end));
            from = end;
            at = end;
        }
    }
    found
}

/// Shortest and longest part of a prefix (`bos`, `live`).
const MIN_PREFIX: usize = 2;
const MAX_PREFIX: usize = 16;

fn is_prefix_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The length of the `[a-z0-9]{2,16}` that `bytes` starts with, if any.
fn prefix_part_len(bytes: &[u8]) -> Option<usize> {
    let len = bytes
        .iter()
        .take(MAX_PREFIX + 1)
        .take_while(|&&b| is_prefix_byte(b))
        .count();
    (MIN_PREFIX..=MAX_PREFIX).contains(&len).then_some(len)
}

/// The end of the shortest key that starts at `start` with its body at `tail` (a prefix and
/// `_` before it), ending by `limit`: the first end whose last 6 characters are the checksum
/// of what precedes them, with a body of at least 32 and a tail of at most 200 base62
/// characters.
fn checksum_end(bytes: &[u8], start: usize, tail: usize, limit: usize) -> Option<usize> {
    let tail_len = bytes[tail..limit]
        .iter()
        .take(MAX_SHAPED_TAIL)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if tail_len < BODY_LEN + CHECKSUM_LEN {
        return None;
    }
    let mut signed = crc32fast::Hasher::new();
    signed.update(&bytes[start..tail + BODY_LEN]);
    for end in tail + BODY_LEN + CHECKSUM_LEN..=tail + tail_len {
        let sum_start = end - CHECKSUM_LEN;
        if end > tail + BODY_LEN + CHECKSUM_LEN {
            signed.update(&bytes[sum_start - 1..sum_start]);
        }
        if checksum_digits(signed.clone().finalize()) == bytes[sum_start..end] {
            return Some(end);
        }
    }
    None
}

/// Whether `text` holds any word the key pattern matches.
pub fn has_key_shaped(text: &str) -> bool {
    could_hold_key(text)
        && word_runs(text.as_bytes()).any(|(start, end)| key_shaped(&text[start..end]))
}

/// The cheap test that rules out almost all text before any word is looked at.
fn could_hold_key(text: &str) -> bool {
    could_hold_key_bytes(text.as_bytes())
}

fn could_hold_key_bytes(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_KEY_SHAPED_LEN && bytes.contains(&b'_')
}

fn replacement(word: &str, mode: Redaction) -> Option<String> {
    if !key_shaped(word) {
        return None;
    }
    // The checksum first: a look-alike (an id that happens to have the shape) is then
    // passed over without the copy `ApiKey::parse` makes of a key it accepts.
    let (signed, sum) = word.split_at(word.len() - CHECKSUM_LEN);
    let key = (checksum(signed) == sum.as_bytes())
        .then(|| ApiKey::parse(word).ok())
        .flatten();
    match key {
        Some(key) => Some(format!("{}…", key.start())),
        None if mode == Redaction::KeyShaped => {
            let prefix = word.rsplit_once('_').map_or("", |(prefix, _)| prefix);
            Some(format!("{prefix}_…"))
        }
        None => None,
    }
}

/// `[A-Za-z0-9_]`, by table: the scan looks at every byte of text that passed the cheap test.
static WORD_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    table
};

fn is_word_byte(b: u8) -> bool {
    WORD_BYTES[usize::from(b)]
}

/// The `(start, end)` byte ranges, in order, of the maximal runs of `[A-Za-z0-9_]` long
/// enough to be a key. Runs end at ASCII bytes, so they are always `str` boundaries.
///
/// Only every `MIN_KEY_SHAPED_LEN`-th byte is probed: a run that long holds one of them
/// whatever its start, and a probe that lands in a run expands to the run's ends. Ordinary
/// text (a user agent, a path) is passed over in a few probes instead of a look at every byte.
fn word_runs(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    const STRIDE: usize = MIN_KEY_SHAPED_LEN;
    let mut probe = STRIDE - 1;
    std::iter::from_fn(move || {
        while probe < bytes.len() {
            if !is_word_byte(bytes[probe]) {
                probe += STRIDE;
                continue;
            }
            let mut start = probe;
            while start > 0 && is_word_byte(bytes[start - 1]) {
                start -= 1;
            }
            let mut end = probe + 1;
            while end < bytes.len() && is_word_byte(bytes[end]) {
                end += 1;
            }
            // A later run starts after `end`; one that long holds a byte of this sequence.
            probe = end + STRIDE;
            if end - start >= STRIDE {
                return Some((start, end));
            }
        }
        None
    })
}

/// Whether a whole word is `[a-z0-9]{2,16}(_[a-z0-9]{2,16})?_[0-9A-Za-z]{38,200}`.
fn key_shaped(word: &str) -> bool {
    let mut parts = word.split('_');
    let (Some(first), Some(second)) = (parts.next(), parts.next()) else {
        return false;
    };
    let third = parts.next();
    if parts.next().is_some() {
        return false;
    }
    let prefix_part = |p: &str| {
        (2..=16).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let (prefix_ok, tail) = match third {
        None => (prefix_part(first), second),
        Some(tail) => (prefix_part(first) && prefix_part(second), tail),
    };
    prefix_ok
        && (BODY_LEN + CHECKSUM_LEN..=MAX_SHAPED_TAIL).contains(&tail.len())
        && tail.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_format::{checksum, KeyPrefix};
    use proptest::prelude::*;

    /// `real` with its last checksum character changed: key-shaped, checksum invalid.
    fn look_alike(real: &ApiKey) -> String {
        let mut typo = real.expose().to_owned();
        typo.pop();
        typo.push(if real.expose().ends_with('A') {
            'B'
        } else {
            'A'
        });
        typo
    }

    fn key(prefix: &str) -> ApiKey {
        ApiKey::generate(&KeyPrefix::parse(prefix).unwrap()).unwrap()
    }

    #[test]
    fn text_without_keys_is_borrowed_unchanged() {
        for text in [
            "",
            "invoices/INV-2024-001",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
            "user_5f3c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b but not a valid key",
            "bos_tooshort",
        ] {
            assert!(matches!(redact(text, Redaction::ValidKeys), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn valid_keys_become_their_start_wherever_they_are() {
        let live = key("bos_live");
        let root = key("kw_root");
        let text = format!(
            "GET /invoices?k={} (é{}) {}",
            live.expose(),
            root.expose(),
            live.expose()
        );
        let redacted = redact(&text, Redaction::ValidKeys);
        assert_eq!(
            redacted,
            format!(
                "GET /invoices?k={}… (é{}…) {}…",
                live.start(),
                root.start(),
                live.start()
            )
        );
        assert!(has_key_shaped(&text));
    }

    #[test]
    fn look_alikes_stay_in_kept_text_and_go_in_echoed_text() {
        let real = key("bos");
        let typo = look_alike(&real);
        let hex_id = "user_5f3c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";
        let text = format!("{typo} {hex_id}");
        assert_eq!(redact(&text, Redaction::ValidKeys), text);
        assert_eq!(redact(&text, Redaction::KeyShaped), "bos_… user_…");
    }

    #[test]
    fn a_key_glued_to_other_characters_is_found_by_its_checksum() {
        for prefix in ["bos", "bos_live", "kw_root", "a1"] {
            let real = key(prefix);
            let secret = real.expose();
            let shown = format!("{}…", real.start());
            for (before, after) in [
                ("%20", ""),
                ("%3D", ""),
                ("token%3A", ""),
                ("x", ""),
                ("0", ""),
                ("x_", ""),
                ("abcdefghijklmnopqrstuvwxyz", ""),
                ("", "abc"),
                ("", "_x"),
                ("%3D", "XYZ9"),
                ("0", "0"),
            ] {
                let text = format!("GET /x?api_key{before}{secret}{after} HTTP/1.1");
                let redacted = redact(&text, Redaction::ValidKeys);
                assert_eq!(
                    redacted,
                    format!("GET /x?api_key{before}{shown}{after} HTTP/1.1"),
                    "{before:?} {after:?}"
                );
                let start = "GET /x?api_key".len() + before.len();
                assert_eq!(
                    valid_key_spans(text.as_bytes()).collect::<Vec<_>>(),
                    vec![(start, start + secret.len())]
                );
            }
            // Two glued keys in one run are both found.
            let other = key("bos");
            let text = format!("x{secret}y{}z", other.expose());
            assert_eq!(
                redact(&text, Redaction::ValidKeys),
                format!("x{shown}y{}…z", other.start())
            );
        }
    }

    #[test]
    fn glued_look_alikes_stay_and_are_not_copied() {
        let real = key("bos");
        let typo = look_alike(&real);
        for text in [
            format!("%3D{typo}"),
            format!("x{typo}abc"),
            format!(
                "user_{}",
                "5f3c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b".repeat(5)
            ),
            format!("ab_cd_{}_ef_{}", "A".repeat(60), "b".repeat(250)),
        ] {
            assert!(
                matches!(redact(&text, Redaction::ValidKeys), Cow::Borrowed(t) if t == text),
                "{text}"
            );
            assert_eq!(valid_key_spans(text.as_bytes()).count(), 0, "{text}");
        }
    }

    #[test]
    fn shapes_follow_the_published_pattern() {
        let body = "A".repeat(38);
        assert!(key_shaped(&format!("bo_{body}")));
        assert!(key_shaped(&format!("bos_live_{body}")));
        assert!(!key_shaped(&format!("b_{body}")));
        assert!(!key_shaped(&format!("Bos_{body}")));
        assert!(!key_shaped(&format!("bos_{}", &body[1..])));
        assert!(!key_shaped(&format!("bos_{}", "A".repeat(201))));
        assert!(!key_shaped(&format!("a_b_c_{body}")));
        assert!(!key_shaped(&format!("bos__{body}")));
        let signed = format!("bos_{}", "z".repeat(32));
        let sum = checksum(&signed);
        let valid = format!("{signed}{}", String::from_utf8_lossy(&sum));
        assert!(ApiKey::parse(&valid).is_ok() && key_shaped(&valid));
    }

    /// Every maximal run, byte by byte: what `word_runs` must find with its probes.
    fn runs_one_by_one(bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let start = at;
            while at < bytes.len() && is_word_byte(bytes[at]) {
                at += 1;
            }
            if at - start >= MIN_KEY_SHAPED_LEN {
                runs.push((start, at));
            }
            at = at.max(start + 1);
        }
        runs
    }

    proptest! {
        #[test]
        fn probing_finds_exactly_the_long_runs(text in "([a-z_]{0,50}[ /;.é]{0,3}){0,12}") {
            prop_assert_eq!(word_runs(text.as_bytes()).collect::<Vec<_>>(), runs_one_by_one(text.as_bytes()));
        }

        #[test]
        fn glued_keys_are_redacted_and_the_rest_is_kept(
            before in "[A-Za-z0-9%]{0,40}",
            after in "[A-Za-z0-9%]{0,40}",
            issuer in "[a-z0-9]{2,16}",
            env in proptest::option::of("[a-z0-9]{2,16}"),
        ) {
            let prefix = match env { Some(e) => format!("{issuer}_{e}"), None => issuer };
            let k = key(&prefix);
            let text = format!("{before}{}{after}", k.expose());
            let redacted = redact(&text, Redaction::ValidKeys);
            prop_assert_eq!(redacted, format!("{before}{}…{after}", k.start()));
            let echoed = redact(&text, Redaction::KeyShaped);
            // Echoed text may lose more (a glued run can be key-shaped as a whole), never less.
            prop_assert!(!echoed.contains(&k.expose()[k.start().len()..]), "{}", echoed);
            prop_assert_eq!(
                valid_key_spans(text.as_bytes()).collect::<Vec<_>>(),
                vec![(before.len(), before.len() + k.expose().len())]
            );
        }

        #[test]
        fn redacted_text_never_holds_a_key_and_keeps_the_rest(
            before in "\\PC{0,40}", after in "\\PC{0,40}", prefix in "[a-z0-9]{2,16}"
        ) {
            let k = key(&prefix);
            let text = format!("{before} {} {after}", k.expose());
            let redacted = redact(&text, Redaction::ValidKeys);
            prop_assert!(!redacted.contains(k.expose()));
            let shown = format!("{}…", k.start());
            prop_assert!(redacted.contains(&shown));
            prop_assert!(redacted.starts_with(&before) || has_key_shaped(&before));
            let echoed = redact(&text, Redaction::KeyShaped);
            prop_assert!(!has_key_shaped(&echoed));
        }
    }
}
