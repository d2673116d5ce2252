//! Secret hygiene across the whole suite: every key and root key handed out is remembered
//! (in every form that must never leak), and error bodies and server logs are searched for
//! them.

use serde_json::Value;
use std::sync::{Mutex, OnceLock};

/// Every key and root key any test of this binary has been given (the `key` of every `201`,
/// the root key of every `keyward init`), in every form that must never appear in an error
/// body: the plaintext, its secret part and its SHA-256 in hex.
fn secrets() -> &'static Mutex<Vec<[String; 3]>> {
    static SECRETS: OnceLock<Mutex<Vec<[String; 3]>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

pub fn remember_secret(key: &str) {
    use sha2::{Digest, Sha256};
    let forms = [
        key.to_owned(),
        secret_part(key).to_owned(),
        hex::encode(Sha256::digest(key.as_bytes())),
    ];
    secrets()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(forms);
}

/// Asserts that an error body carries no secret any test has seen (case-insensitively for
/// the hex digest).
#[track_caller]
pub fn assert_no_secret_in(context: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for [plain, part, digest] in secrets().lock().unwrap_or_else(|p| p.into_inner()).iter() {
        assert!(
            !text.contains(plain.as_str()) && !text.contains(part.as_str()),
            "{context} carries a key or its secret part: {text}"
        );
        assert!(
            !lower.contains(digest.as_str()),
            "{context} carries a key's hash: {text}"
        );
    }
}

/// Secret hygiene across the whole suite, for every answer a test reads (through [`super::http::Answer::new`],
/// or from the router in process): every key handed out is remembered, and no error body,
/// in any test, may carry any of them.
#[track_caller]
pub fn check_answer(status: u16, text: &str, json: &Value) {
    if status == 201 {
        if let Some(key) = json["key"].as_str() {
            remember_secret(key);
        }
    }
    if status >= 400 {
        assert_no_secret_in(&format!("a {status} body"), text);
    }
}

/// The part of a key after its last `_`: the random body and the checksum.
pub fn secret_part(key: &str) -> &str {
    key.rsplit_once('_').map_or(key, |(_, secret)| secret)
}
