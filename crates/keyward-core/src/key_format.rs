//! The key format, a public contract that scanners depend on:
//! `<prefix>_<body><checksum>`, where `body` is base62 from the OS CSPRNG and `checksum` is
//! the CRC-32 (IEEE) of `<prefix>_<body>` written as 6 base62 digits (GitHub's scheme).
//! A malformed key or a bad checksum is rejected here, before any storage is touched.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// Base62 in ASCII order, the alphabet of both body and checksum.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Characters of random body in a key we issue: 32 × log2(62) ≈ 190.5 bits.
pub const BODY_LEN: usize = 32;
/// Characters of checksum at the end of every key.
pub const CHECKSUM_LEN: usize = 6;
/// Longest key the parser looks at; anything longer is garbage, refused without hashing.
pub const MAX_KEY_LEN: usize = 256;
/// How many characters of body the display `start` shows after the prefix.
const START_BODY_CHARS: usize = 4;

/// The published regular expression for keyward keys (gitleaks, trufflehog, grep -E).
/// A match still needs its checksum checked to be a real key.
pub const KEY_REGEX: &str = r"\b[a-z0-9]{2,16}(_[a-z0-9]{2,16})?_[0-9A-Za-z]{38,200}\b";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the prefix must be 2-16 lowercase letters or digits, optionally followed by _ and a 2-16 character environment part (e.g. bos or bos_live)")]
    BadPrefix,
    #[error("a key is longer than {MAX_KEY_LEN} characters")]
    TooLong,
    #[error("a key has the form <prefix>_<body><checksum>")]
    Shape,
    #[error("a key's body must be at least {BODY_LEN} base62 characters")]
    BodyTooShort,
    #[error("the key's checksum does not match")]
    Checksum,
    #[error("the operating system's random number generator failed")]
    Random,
}

/// An issuer prefix such as `bos` or `bos_live`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(s: &str) -> Result<Self, KeyFormatError> {
        let mut parts = s.split('_');
        let issuer = parts.next().unwrap_or_default();
        let environment = parts.next();
        let valid_part = |p: &str| (2..=16).contains(&p.len()) && p.bytes().all(is_prefix_byte);
        let ok = valid_part(issuer) && environment.is_none_or(valid_part) && parts.next().is_none();
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(KeyFormatError::BadPrefix)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_prefix_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// The CRC-32 of `text` as 6 base62 digits, most significant first, left-padded with `0`.
pub fn checksum(text: &str) -> [u8; CHECKSUM_LEN] {
    checksum_digits(crc32fast::hash(text.as_bytes()))
}

/// A CRC-32 value as the 6 base62 digits of [`checksum`].
pub(crate) fn checksum_digits(mut value: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// A well-formed key with a valid checksum. The plaintext is held in a [`SecretString`]:
/// `Debug` prints only the prefix, and the text is reachable only through
/// [`ApiKey::expose`], which makes every use of the secret easy to find.
#[derive(Clone)]
pub struct ApiKey {
    secret: SecretString,
    prefix_len: usize,
}

impl ApiKey {
    /// A new key under `prefix`, with a body from the OS CSPRNG.
    pub fn generate(prefix: &KeyPrefix) -> Result<Self, KeyFormatError> {
        let mut body = String::with_capacity(BODY_LEN);
        let mut pool = [0u8; 64];
        while body.len() < BODY_LEN {
            getrandom::fill(&mut pool).map_err(|_| KeyFormatError::Random)?;
            // Rejection sampling: 248 = 4 × 62, so keeping bytes below it makes every
            // character equally likely.
            for &byte in pool.iter().filter(|&&b| b < 248) {
                if body.len() == BODY_LEN {
                    break;
                }
                body.push(char::from(BASE62[usize::from(byte % 62)]));
            }
        }
        let signed = format!("{prefix}_{body}");
        let sum = checksum(&signed);
        let mut text = signed;
        text.extend(sum.iter().map(|&b| char::from(b)));
        Ok(Self {
            prefix_len: prefix.as_str().len(),
            secret: SecretString::from(text),
        })
    }

    /// Checks shape and checksum; no storage is involved.
    pub fn parse(text: &str) -> Result<Self, KeyFormatError> {
        if text.len() > MAX_KEY_LEN {
            return Err(KeyFormatError::TooLong);
        }
        let split = text.rfind('_').ok_or(KeyFormatError::Shape)?;
        let (prefix, tail) = (&text[..split], &text[split + 1..]);
        KeyPrefix::parse(prefix).map_err(|_| KeyFormatError::Shape)?;
        if !tail.bytes().all(is_base62) {
            return Err(KeyFormatError::Shape);
        }
        if tail.len() < BODY_LEN + CHECKSUM_LEN {
            return Err(KeyFormatError::BodyTooShort);
        }
        let signed_len = text.len() - CHECKSUM_LEN;
        let expected = checksum(&text[..signed_len]);
        // The checksum is public information, so an ordinary comparison is fine here.
        if expected != text.as_bytes()[signed_len..] {
            return Err(KeyFormatError::Checksum);
        }
        Ok(Self {
            prefix_len: prefix.len(),
            secret: SecretString::from(text.to_owned()),
        })
    }

    /// The issuer prefix, e.g. `bos_live`: public, safe to log.
    pub fn prefix(&self) -> &str {
        &self.secret.expose_secret()[..self.prefix_len]
    }

    /// The short display form stored with a key: the prefix and the first few characters
    /// of the body, e.g. `bos_5Qm2`. It reveals ≤ 24 of ~190 bits.
    pub fn start(&self) -> String {
        let end = self.prefix_len + 1 + START_BODY_CHARS;
        self.secret.expose_secret()[..end].to_owned()
    }

    /// The plaintext. Call only to hash it or to hand it to its owner once.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}_[REDACTED])", self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn prefix(s: &str) -> KeyPrefix {
        KeyPrefix::parse(s).unwrap()
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = ApiKey::generate(&prefix("bos_live")).unwrap();
        let text = key.expose();
        assert!(text.starts_with("bos_live_"));
        assert_eq!(text.len(), "bos_live_".len() + BODY_LEN + CHECKSUM_LEN);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert_eq!(key.prefix(), "bos_live");
        assert_eq!(key.start().len(), "bos_live_".len() + 4);
    }

    #[test]
    fn checksum_matches_githubs_scheme() {
        // crc32("") = 0 → all zeros; crc32("a") = 0xE8B7BE43 = 3904355907.
        assert_eq!(&checksum(""), b"000000");
        // Cross-checked with Python: zlib.crc32(b"a") written in base62.
        assert_eq!(&checksum("a"), b"4GEHKN");
    }

    #[test]
    fn prefixes_are_checked() {
        for good in ["bos", "bos_live", "a1", "abcdefghijklmnop"] {
            assert!(KeyPrefix::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "b",
            "Bos",
            "bos_",
            "_bos",
            "bos_l",
            "bos_live_x",
            "abcdefghijklmnopq",
            "bö",
        ] {
            assert!(KeyPrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "bos",
            "bos_",
            "_abc",
            "bos_short",
            &"x".repeat(300),
            "bos_ä😀",
        ] {
            assert!(ApiKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::generate(&prefix("bos")).unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains(&key.expose()[4..]));
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn published_regex_shape_is_stable() {
        assert!(KEY_REGEX.starts_with(r"\b[a-z0-9]{2,16}"));
    }

    proptest! {
        #[test]
        fn generate_then_parse_round_trips(issuer in "[a-z0-9]{2,16}", env in proptest::option::of("[a-z0-9]{2,16}")) {
            let text = match env { Some(e) => format!("{issuer}_{e}"), None => issuer };
            let key = ApiKey::generate(&prefix(&text)).unwrap();
            let parsed = ApiKey::parse(key.expose()).unwrap();
            prop_assert_eq!(parsed.expose(), key.expose());
            prop_assert_eq!(parsed.prefix(), text.as_str());
        }

        #[test]
        fn any_single_character_change_is_rejected(pos in 0usize..44, replacement in "[0-9A-Za-z_]") {
            let key = ApiKey::generate(&prefix("bos_test")).unwrap();
            let text = key.expose();
            let pos = pos % text.len();
            let replacement = replacement.chars().next().unwrap();
            prop_assume!(text.as_bytes()[pos] != replacement as u8);
            let mut changed = text.as_bytes().to_vec();
            changed[pos] = replacement as u8;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(ApiKey::parse(&changed).is_err(), "accepted {}", changed);
        }
    }
}
