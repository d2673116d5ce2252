//! Escapings that can hide a key's own characters: a key whose `_` is written `%5F` in a URL,
//! `=5F` in a quoted-printable mail header, `\u005f` in JSON, `\x5f` in a string literal or
//! `&#95;` in HTML, or that a quoted-printable soft line break (`=` at the end of a line)
//! splits in two. [`Unescaped`] is the text with exactly those escapes decoded, with a map
//! back to the original bytes, so a key found in it can be reported (or redacted) where it
//! really is.
//!
//! Each family of escapes (URL, quoted-printable, backslash, HTML) is decoded on its own,
//! as real text uses one of them at a time: a bare `=30` in a URL-encoded query string is a
//! value, not a quoted-printable escape, and decoding both would eat the key's first
//! characters.
//!
//! Only escapes that decode to a key character (`[A-Za-z0-9_]`) are decoded, and soft line
//! breaks are removed: every other byte stays as it was, so the decoded text is still valid
//! UTF-8 when the original was, and escapes that cannot be part of a key (`%3D`, `\n`) still
//! separate words exactly as before. A key right after such an escape (`%3D<key>`,
//! `\n<key>`) needs no decoding: it is found by checksum inside its run of word characters.

/// One decoded escape: `original_len` bytes at `original` became `decoded_len` (0 or 1)
/// bytes at `decoded`.
#[derive(Debug, Clone, Copy)]
struct Escape {
    decoded: usize,
    original: usize,
    original_len: usize,
    decoded_len: usize,
}

/// A family of escapes, decoded on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `%5F` (URL encoding).
    Percent,
    /// `=5F` and soft line breaks (quoted-printable).
    QuotedPrintable,
    /// `\x5f`, `\u005f` (JSON, JavaScript, Python, C string literals).
    Backslash,
    /// `&#95;`, `&#x5F;`, `&lowbar;` (HTML and XML character references).
    CharacterReference,
}

impl Family {
    pub(crate) const ALL: [Family; 4] = [
        Family::Percent,
        Family::QuotedPrintable,
        Family::Backslash,
        Family::CharacterReference,
    ];

    /// The byte every escape of this family starts with.
    fn introducer(self) -> u8 {
        match self {
            Family::Percent => b'%',
            Family::QuotedPrintable => b'=',
            Family::Backslash => b'\\',
            Family::CharacterReference => b'&',
        }
    }
}

/// Text with the escapes of one family that hide key characters decoded.
#[derive(Debug)]
pub(crate) struct Unescaped {
    pub(crate) text: Vec<u8>,
    /// In order of position, both in `text` and in the original.
    escapes: Vec<Escape>,
}

impl Unescaped {
    /// `original` with its key-character escapes of `family` decoded, or `None` when it has
    /// none (the common case, which costs one pass and no allocation).
    pub(crate) fn decode(original: &[u8], family: Family) -> Option<Self> {
        let introducer = family.introducer();
        // Most text has no introducer at all: one fast search rules it out.
        if !original.contains(&introducer) {
            return None;
        }
        let next = |from: usize| {
            original[from..]
                .iter()
                .position(|&b| b == introducer)
                .map(|offset| from + offset)
        };
        // Only an introducer can start an escape: the text between them is copied whole.
        let mut at = next(0)?;
        while escape_at(original, at, family).is_none() {
            at = next(at + 1)?;
        }
        let mut text = Vec::with_capacity(original.len());
        let mut escapes = Vec::new();
        let mut copied = 0;
        loop {
            if let Some((len, decoded)) = escape_at(original, at, family) {
                text.extend_from_slice(&original[copied..at]);
                escapes.push(Escape {
                    decoded: text.len(),
                    original: at,
                    original_len: len,
                    decoded_len: usize::from(decoded.is_some()),
                });
                text.extend(decoded);
                copied = at + len;
            }
            match next((at + 1).max(copied)) {
                Some(found) => at = found,
                None => break,
            }
        }
        text.extend_from_slice(&original[copied..]);
        Some(Self { text, escapes })
    }

    /// Where in the decoded text each escape was decoded (the byte it became, or for a soft
    /// line break the byte after it), in order.
    pub(crate) fn decoded_at(&self) -> impl Iterator<Item = usize> + '_ {
        self.escapes.iter().map(|e| e.decoded)
    }

    /// The original byte range of the decoded range `start..end` (not empty).
    pub(crate) fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let (first, _) = self.original_of(start);
        let (last, len) = self.original_of(end - 1);
        (first, last + len)
    }

    /// Where the decoded byte at `at` comes from: its original offset and length.
    fn original_of(&self, at: usize) -> (usize, usize) {
        // The last escape at or before `at`; with a soft line break and an escape at the same
        // decoded offset, the later one, which is the one that produced the byte.
        let index = self.escapes.partition_point(|e| e.decoded <= at);
        let Some(escape) = index.checked_sub(1).map(|i| self.escapes[i]) else {
            return (at, 1);
        };
        if at < escape.decoded + escape.decoded_len {
            (escape.original, escape.original_len)
        } else {
            let after = escape.original + escape.original_len;
            (after + (at - escape.decoded - escape.decoded_len), 1)
        }
    }
}

/// The escape starting at `at`, if it is one this module decodes: its length, and the key
/// character it stands for (`None` for a soft line break, which stands for nothing).
fn escape_at(bytes: &[u8], at: usize, family: Family) -> Option<(usize, Option<u8>)> {
    let rest = &bytes[at..];
    if *rest.first()? != family.introducer() {
        return None;
    }
    let (len, value) = match family {
        Family::Percent => (3, hex(rest.get(1..3)?)?),
        Family::QuotedPrintable => match (rest.get(1), rest.get(2)) {
            (Some(b'\n'), _) => return Some((2, None)),
            (Some(b'\r'), Some(b'\n')) => return Some((3, None)),
            _ => (3, hex(rest.get(1..3)?)?),
        },
        Family::Backslash => match rest.get(1)? {
            b'x' => (4, hex(rest.get(2..4)?)?),
            b'u' => match rest.get(2..6)? {
                [b'0', b'0', digits @ ..] => (6, hex(digits)?),
                _ => return None,
            },
            _ => return None,
        },
        Family::CharacterReference => character_reference(rest)?,
    };
    let key_character = value.is_ascii_alphanumeric() || value == b'_';
    key_character.then_some((len, Some(value)))
}

/// Two hexadecimal digits as a byte.
fn hex(digits: &[u8]) -> Option<u8> {
    let [high, low] = digits else { return None };
    Some(hex_digit(*high)? << 4 | hex_digit(*low)?)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `&#95;`, `&#x5F;` or `&lowbar;` (HTML and XML character references).
fn character_reference(rest: &[u8]) -> Option<(usize, u8)> {
    const LOWBAR: &[u8] = b"&lowbar;";
    if rest.starts_with(LOWBAR) {
        return Some((LOWBAR.len(), b'_'));
    }
    let after_hash = rest.strip_prefix(b"&#")?;
    let (radix, digits_at) = match after_hash.first()? {
        b'x' | b'X' => (16, 3),
        _ => (10, 2),
    };
    // A key character is below 128: at most 3 digits (and leading zeros, rarely more).
    let digits = rest[digits_at..]
        .iter()
        .take(8)
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    if digits == 0 || rest.get(digits_at + digits) != Some(&b';') {
        return None;
    }
    let text = std::str::from_utf8(&rest[digits_at..digits_at + digits]).ok()?;
    let value = u32::from_str_radix(text, radix).ok()?;
    Some((digits_at + digits + 1, u8::try_from(value).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each family's decoding that changed something, in [`Family::ALL`]'s order.
    fn decoded(text: &str) -> Option<String> {
        let views: Vec<String> = Family::ALL
            .into_iter()
            .filter_map(|family| Unescaped::decode(text.as_bytes(), family))
            .map(|u| String::from_utf8(u.text).unwrap())
            .collect();
        (!views.is_empty()).then(|| views.join(" | "))
    }

    #[test]
    fn only_escapes_of_key_characters_are_decoded() {
        assert_eq!(decoded("a%3Db%20c\\n\\u0022 =20 &amp; &#34;"), None);
        assert_eq!(decoded("bos%5Fx"), Some("bos_x".into()));
        assert_eq!(decoded("bos=5fx =3D"), Some("bos_x =3D".into()));
        assert_eq!(decoded("a=30%5F"), Some("a=30_ | a0%5F".into()));
        assert_eq!(decoded("bos\\u005Fx\\u0022"), Some("bos_x\\u0022".into()));
        assert_eq!(decoded("bos\\x5fx"), Some("bos_x".into()));
        assert_eq!(
            decoded("bos&#95;x&#x5F;&#X5f;&lowbar;&#0095;"),
            Some("bos_x____".into())
        );
        assert_eq!(decoded("ab=\r\ncd=\nef"), Some("abcdef".into()));
        assert_eq!(decoded("é%41é"), Some("éAé".into()));
        assert_eq!(decoded("ab=\n"), Some("ab".into()));
        for unfinished in [
            "%5",
            "=5",
            "\\x5",
            "\\u005",
            "&#95",
            "&#;",
            "&#x;",
            "=\r",
            "&#99999999999;",
        ] {
            assert_eq!(decoded(unfinished), None, "{unfinished}");
        }
    }

    #[test]
    fn decoded_ranges_map_back_to_the_escapes_that_made_them() {
        let text = "x=\r\nab=5Fcd=\nef=5f";
        let u = Unescaped::decode(text.as_bytes(), Family::QuotedPrintable).unwrap();
        assert_eq!(u.text, b"xab_cdef_");
        let original = |s, e| {
            let (s, e) = u.original_span(s, e);
            &text[s..e]
        };
        assert_eq!(original(0, 9), text);
        assert_eq!(original(1, 9), &text[4..]);
        assert_eq!(original(3, 4), "=5F");
        assert_eq!(original(2, 5), "b=5Fc");
        assert_eq!(original(4, 6), "cd");
        assert_eq!(original(6, 7), "e");
        assert_eq!(original(8, 9), "=5f");
    }
}
