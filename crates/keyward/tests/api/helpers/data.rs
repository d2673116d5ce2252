//! Test data: keys built independently of the server's code (checksums, unissued and
//! corrupted keys, the format check), byte searches, and a seeded RNG.

use std::path::Path;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The published checksum: CRC-32 (IEEE) of `<prefix>_<body>` in base62, 6 digits, most
/// significant first, left-padded with `0`. Written here independently of the server's code.
pub fn checksum(signed: &str) -> String {
    let mut n = crc32fast::hash(signed.as_bytes());
    let mut digits = [b'0'; 6];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// A key that is well formed with a correct checksum but that no server issued.
pub fn unissued_key(prefix: &str) -> String {
    let signed = format!("{prefix}_ThisBodyWasNeverIssuedByAServer42");
    let sum = checksum(&signed);
    format!("{signed}{sum}")
}

/// Asserts `key` has the public format: `<prefix>_<≥32 base62><6-character checksum>`.
#[track_caller]
pub fn assert_key_format(key: &str, prefix: &str) {
    let tail = key
        .strip_prefix(prefix)
        .and_then(|t| t.strip_prefix('_'))
        .unwrap_or_else(|| panic!("{key:?} does not start with {prefix}_"));
    assert!(tail.len() >= 38, "body and checksum too short in {key:?}");
    assert!(
        tail.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{key:?} is not base62 after the prefix"
    );
    let (signed, sum) = key.split_at(key.len() - 6);
    assert_eq!(sum, checksum(signed), "checksum of {key:?}");
}

/// The same key with its last character changed: a checksum failure.
pub fn corrupt_checksum(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    let last = bytes.last_mut().expect("a non-empty key");
    *last = if *last == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("still ASCII")
}

/// The bytes of a file, or nothing if it does not exist.
pub fn read_if_exists(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

/// Whether `needle` occurs in `haystack`, byte for byte.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// xorshift64*: enough randomness for kill points and choices, seeded and printed so a
/// failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the clock; prints the seed.
    pub fn seeded(what: &str) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        println!("{what} seed: {seed}");
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
