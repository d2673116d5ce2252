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
//! before more letters. Those are found by checksum ([`valid_keys`]): every place in a
//! run where a prefix and `_` begin is a candidate start, and every end within the longest
//! tail the pattern allows (200 characters) whose last 6 characters are the checksum of what
//! precedes them is a key. Starts are bounded by the prefix length (16, or two parts of 16)
//! around each `_`, and each candidate's CRC-32 is computed incrementally over at most 234
//! bytes, so the work is linear in the run with a small constant; a random 6 characters
//! pass the checksum with odds of 1 in 62⁶.
//!
//! A key can also be written with some of its own characters escaped (`bos%5F…` in a URL,
//! `=5F` in a mail header, `\u005f` in JSON, `&#95;` in HTML) or be split by a
//! quoted-printable soft line break: the text is searched a second time with those escapes
//! decoded (`unescape`), and such a key is reported, and redacted, over the escaped bytes.

use crate::key_format::{checksum_digits, ApiKey, BODY_LEN, CHECKSUM_LEN};
use crate::unescape::{Family, Unescaped};
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
    let bytes = text.as_bytes();
    if bytes.len() < MIN_KEY_SHAPED_LEN {
        return Cow::Borrowed(text);
    }
    let mut replacements: Vec<(usize, usize, String)> = valid_keys(bytes)
        .into_iter()
        .map(|found| (found.start, found.end, format!("{}…", found.key.start())))
        .collect();
    if mode == Redaction::KeyShaped && could_hold_key_bytes(bytes) {
        // Whole words with the key's shape and a bad checksum: a key with a typo.
        let kept = replacements.len();
        for (start, end) in word_runs(bytes) {
            let inside_key = replacements[..kept]
                .iter()
                .any(|&(s, e, _)| s < end && start < e);
            if inside_key || !key_shaped(&text[start..end]) {
                continue;
            }
            let prefix = text[start..end].rsplit_once('_').map_or("", |(p, _)| p);
            replacements.push((start, end, format!("{prefix}_…")));
        }
        replacements.sort_by_key(|&(start, _, _)| start);
    }
    if replacements.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // Where the text not yet copied to `out` starts.
    let mut copied = 0;
    for (start, end, replacement) in replacements {
        out.push_str(&text[copied..start]);
        out.push_str(&replacement);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// A checksum-valid key in text, and where: `start..end` are byte offsets in the text as it
/// was given, so a key written with escapes (`bos%5F…`) spans its escapes.
#[derive(Debug, Clone)]
pub struct FoundKey {
    pub start: usize,
    pub end: usize,
    pub key: ApiKey,
}

/// The checksum-valid keys in `bytes` (ASCII-compatible text), in order and not overlapping:
/// whole words the published pattern matches, keys glued to other word characters before or
/// after them (`%3Dbos_…`, `xbos_…`, `\nbos_…`, `bos_…abc`), and keys with some of their
/// characters escaped or split by a quoted-printable soft line break (`bos%5F…`, see
/// [`Unescaped`]). Allocates only when a key is found or the text has such escapes.
pub fn valid_keys(bytes: &[u8]) -> Vec<FoundKey> {
    if bytes.len() < MIN_KEY_SHAPED_LEN {
        return Vec::new();
    }
    let mut found = keys_in_text(bytes);
    let mut decoded = Vec::new();
    for family in Family::ALL {
        let Some(unescaped) = Unescaped::decode(bytes, family) else {
            continue;
        };
        for mut key in keys_around_escapes(&unescaped) {
            (key.start, key.end) = unescaped.original_span(key.start, key.end);
            decoded.push(key);
        }
    }
    if decoded.is_empty() {
        return found;
    }
    // A key the escapes hid, unless it overlaps one found as written (`%30a_…` is the key
    // `0a_…` glued to `%3`, not `0` escaped), or one found already in another family.
    decoded.sort_by_key(|f| (f.start, f.end));
    for key in decoded {
        if !found.iter().any(|f| f.start < key.end && key.start < f.end) {
            found.push(key);
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// The keys in decoded text that hold a decoded escape: only the word runs around escapes
/// are searched (a key without one was found in the text as it is), and only those long
/// enough for a key, so `count=42` in every line of a log costs a copy, not a second search.
fn keys_around_escapes(unescaped: &Unescaped) -> Vec<FoundKey> {
    let text = &unescaped.text;
    let mut found = Vec::new();
    // Where the last run searched ended: later escapes inside it were covered.
    let mut searched_to = 0;
    for at in unescaped.decoded_at() {
        if at < searched_to {
            continue;
        }
        let mut start = at;
        while start > 0 && is_word_byte(text[start - 1]) {
            start -= 1;
        }
        let mut end = at;
        while end < text.len() && is_word_byte(text[end]) {
            end += 1;
        }
        searched_to = end.max(at + 1);
        if end - start < MIN_KEY_SHAPED_LEN {
            continue;
        }
        for (key_start, key_end) in keys_in_run(text, start, end) {
            let Some(key) = std::str::from_utf8(&text[key_start..key_end])
                .ok()
                .and_then(|k| ApiKey::parse(k).ok())
            else {
                continue;
            };
            found.push(FoundKey {
                start: key_start,
                end: key_end,
                key,
            });
        }
    }
    found
}

/// The keys in text as it is, with no escape decoded.
fn keys_in_text(bytes: &[u8]) -> Vec<FoundKey> {
    if !could_hold_key_bytes(bytes) {
        return Vec::new();
    }
    word_runs(bytes)
        .flat_map(|(start, end)| keys_in_run(bytes, start, end))
        .filter_map(|(start, end)| {
            let text = std::str::from_utf8(&bytes[start..end]).ok()?;
            let key = ApiKey::parse(text).ok()?;
            Some(FoundKey { start, end, key })
        })
        .collect()
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
    could_hold_key_bytes(text.as_bytes())
        && word_runs(text.as_bytes()).any(|(start, end)| key_shaped(&text[start..end]))
}

/// The cheap test that rules out almost all text before any word is looked at.
fn could_hold_key_bytes(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_KEY_SHAPED_LEN && bytes.contains(&b'_')
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

    fn spans(text: &str) -> Vec<(usize, usize)> {
        valid_keys(text.as_bytes())
            .into_iter()
            .map(|f| (f.start, f.end))
            .collect()
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
                assert_eq!(spans(&text), vec![(start, start + secret.len())]);
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
            assert_eq!(spans(&text).len(), 0, "{text}");
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

    /// Text that can sit right before a key: escapes, glued letters, encodings of `=`.
    const BEFORE: &[&str] = &[
        "",
        " ",
        "=",
        "=3D",
        "%3D",
        "%253D",
        "\\n",
        "\\t",
        "\\r",
        "\\\"",
        "\\u0022",
        "\\u003d",
        "\\x3d",
        "&quot;",
        "&#34;",
        "x",
        "_",
        "x_",
        "token",
        "api_key",
        "API_KEY=",
        "0",
        "9_",
        "abcdefghijklmnopqrstuvwxyz",
        "=\r\n",
        "=\n",
        "%5F",
        "\\u005f",
        "é",
        "\"",
    ];
    /// Text that can follow a key.
    const AFTER: &[&str] = &[
        "", " ", "abc", "_x", "%26", "\\n", "\\u0022", "=\r\n", "&amp;", "\"", "é",
    ];

    /// How a key's own characters can be written: as they are, or escaped.
    fn escaped(c: char, style: usize) -> String {
        let b = c as u32;
        match style {
            0 => format!("%{b:02X}"),
            1 => format!("={b:02X}"),
            2 => format!("\\u{b:04x}"),
            3 => format!("\\x{b:02x}"),
            4 => format!("&#{b};"),
            5 => format!("&#x{b:X};"),
            _ => c.to_string(),
        }
    }

    /// `secret` with the characters at `escapes` (positions) escaped in `style`, and with
    /// a quoted-printable soft line break before the character at `soft_break`, if any.
    fn written(secret: &str, escapes: &[usize], style: usize, soft_break: Option<usize>) -> String {
        let mut out = String::new();
        for (i, c) in secret.chars().enumerate() {
            if soft_break == Some(i) {
                out.push_str("=\r\n");
            }
            let escape = escapes.contains(&i) || (style < 7 && escapes.is_empty() && c == '_');
            out.push_str(&if escape {
                escaped(c, style)
            } else {
                c.to_string()
            });
        }
        out
    }

    #[test]
    fn each_listed_escape_or_glued_text_before_a_key_hides_nothing() {
        let real = key("bos_live");
        let secret = real.expose();
        for before in BEFORE {
            let text = format!("{{\"k\":\"{before}{secret}\"}}");
            let start = 6 + before.len();
            assert_eq!(
                spans(&text),
                vec![(start, start + secret.len())],
                "{before:?}"
            );
            assert!(!redact(&text, Redaction::ValidKeys).contains(&secret[10..]));
        }
    }

    #[test]
    fn keys_with_escaped_characters_are_found_and_redacted_over_their_escapes() {
        let real = key("bos");
        let secret = real.expose();
        for (style, underscore) in [
            (0, "%5F"),
            (1, "=5F"),
            (2, "\\u005f"),
            (3, "\\x5f"),
            (4, "&#95;"),
            (5, "&#x5F;"),
        ] {
            let hidden = secret.replacen('_', underscore, 1);
            assert_eq!(written(secret, &[], style, None), hidden);
            let text = format!("GET /?api_key={hidden}&x=1");
            assert_eq!(spans(&text), vec![(14, 14 + hidden.len())], "{hidden}");
            assert_eq!(
                redact(&text, Redaction::ValidKeys),
                format!("GET /?api_key={}…&x=1", real.start())
            );
        }
        // Split by a quoted-printable soft line break, as a mail body wraps a long line.
        let (a, b) = secret.split_at(30);
        let text = format!("key=3D{a}=\r\n{b}\r\n");
        assert_eq!(spans(&text), vec![(6, 6 + secret.len() + 3)]);
        // Escaped look-alikes stay.
        let typo = look_alike(&real).replacen('_', "%5F", 1);
        assert!(spans(&typo).is_empty());
        assert!(matches!(
            redact(&typo, Redaction::ValidKeys),
            Cow::Borrowed(_)
        ));
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
                spans(&text),
                vec![(before.len(), before.len() + k.expose().len())]
            );
        }

        #[test]
        fn a_key_after_any_listed_prefix_with_any_escapes_is_found_exactly_once(
            before in proptest::sample::select(BEFORE),
            after in proptest::sample::select(AFTER),
            filler in "[ a-z]{0,20}",
            prefix in "[a-z0-9]{2,16}(_[a-z0-9]{2,16})?",
            style in 0usize..8,
            escapes in proptest::collection::vec(0usize..60, 0..4),
            soft_break in proptest::option::of(1usize..40),
        ) {
            // Real text uses one family of escapes: no bare `=` before quoted-printable, and
            // soft line breaks only in quoted-printable or unescaped text.
            let soft_break = soft_break.filter(|_| [1, 6, 7].contains(&style));
            let quoted_printable = style == 1 || soft_break.is_some();
            prop_assume!(!(quoted_printable && before.ends_with('=')));
            let k = key(&prefix);
            let secret = k.expose();
            let escapes: Vec<usize> = escapes.into_iter().filter(|&i| i < secret.len()).collect();
            let hidden = written(secret, &escapes, style, soft_break);
            let text = format!("{filler}{before}{hidden}{after}");
            let start = filler.len() + before.len();
            let found = valid_keys(text.as_bytes());
            prop_assert_eq!(found.len(), 1, "{}", text);
            prop_assert_eq!(found[0].key.expose(), secret);
            // The span is the written key; when its first characters are escaped digits that
            // also spell the key as written (`\u00300_…` holds `00_…` literally), the key as
            // written wins and the span starts inside the escape.
            let end = start + hidden.len();
            prop_assert_eq!(found[0].end, end, "{}", text);
            prop_assert!((start..start + 8).contains(&found[0].start), "{}", text);
            let redacted = redact(&text, Redaction::ValidKeys);
            prop_assert!(redacted.starts_with(&format!("{filler}{before}")), "{}", redacted);
            prop_assert!(redacted.ends_with(&format!("{}…{after}", k.start())), "{}", redacted);
            prop_assert!(!redacted.contains(&secret[k.start().len()..]), "{}", redacted);
            prop_assert!(redacted.len() <= text.len() - hidden.len() + k.start().len() + 3 + 7);
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
