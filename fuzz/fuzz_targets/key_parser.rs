//! The key parser on arbitrary bytes: never panics, and accepts only the text itself with a
//! correct checksum over what precedes it.
#![no_main]

use keyward_core::key_format::checksum;
use keyward_core::{ApiKey, KeyHash};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = ApiKey::parse(text) {
        assert_eq!(key.expose(), text);
        let (signed, sum) = text.split_at(text.len() - 6);
        assert_eq!(sum.as_bytes(), &checksum(signed)[..]);
        assert!(text.starts_with(key.start().trim_end_matches('…')));
        let _ = KeyHash::of(key.expose());
    }
});
