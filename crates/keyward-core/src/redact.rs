//! Keys inside free text: finds the words that [`KEY_REGEX`](crate::KEY_REGEX) matches and
//! replaces them, so text a client sent can be stored or echoed without the key in it.
//!
//! The pattern needs a word boundary at both ends and `_` is a word character, so a match is
//! always a whole run of `[A-Za-z0-9_]` (with ASCII word boundaries, as `keyward scan`
//! matches): this module splits text into such runs and checks each run's shape by hand
//! instead of compiling a regular expression, which keeps `keyward-core` free of `regex` and
//! lets verification skip the work for text that cannot hold a key.

use crate::key_format::{checksum, ApiKey, BODY_LEN, CHECKSUM_LEN};
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
        let Some(replacement) = replacement(word, mode) else {
            continue;
        };
        let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buffer.push_str(&text[copied..start]);
        buffer.push_str(&replacement);
        copied = end;
    }
    match out {
        Some(mut buffer) => {
            buffer.push_str(&text[copied..]);
            Cow::Owned(buffer)
        }
        None => Cow::Borrowed(text),
    }
}

/// Whether `text` holds any word the key pattern matches.
pub fn has_key_shaped(text: &str) -> bool {
    could_hold_key(text)
        && word_runs(text.as_bytes()).any(|(start, end)| key_shaped(&text[start..end]))
}

/// The cheap test that rules out almost all text before any word is looked at.
fn could_hold_key(text: &str) -> bool {
    text.len() >= MIN_KEY_SHAPED_LEN && text.as_bytes().contains(&b'_')
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
        let mut typo = real.expose().to_owned();
        typo.pop();
        typo.push(if real.expose().ends_with('A') {
            'B'
        } else {
            'A'
        });
        let hex_id = "user_5f3c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";
        let text = format!("{typo} {hex_id}");
        assert_eq!(redact(&text, Redaction::ValidKeys), text);
        assert_eq!(redact(&text, Redaction::KeyShaped), "bos_… user_…");
    }

    #[test]
    fn a_key_inside_a_longer_word_is_not_the_pattern_and_is_left() {
        // The published pattern needs a word boundary on both sides, like `keyward scan`.
        let real = key("bos");
        let glued = format!("x_{}", real.expose());
        assert!(!has_key_shaped(&glued));
        assert_eq!(redact(&glued, Redaction::KeyShaped), glued);
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
