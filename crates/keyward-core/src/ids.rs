//! Public identifiers: a kind prefix and a time-ordered UUIDv7, so ids sort by creation time
//! (cursor pagination) and say what they name when they turn up in a log.

/// A new id such as `key_0192f0c5e3a27d4c9b1e8f3a6d5c4b21`.
pub fn new_id(kind: &str) -> String {
    format!("{kind}_{}", uuid::Uuid::now_v7().simple())
}

pub const WORKSPACE: &str = "ws";
pub const KEY: &str = "key";
pub const ROOT_KEY: &str = "rk";
pub const EVENT: &str = "ev";
/// A one-time handover link of the dashboard.
pub const HANDOVER: &str = "ho";

/// True when `id` is shaped like an id of `kind`; used to answer a malformed id with 404
/// without touching storage.
pub fn is_well_formed(kind: &str, id: &str) -> bool {
    id.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_well_formed_and_ordered() {
        let a = new_id(KEY);
        let b = new_id(KEY);
        assert!(is_well_formed(KEY, &a));
        assert!(!is_well_formed(ROOT_KEY, &a));
        assert!(a < b);
        assert!(!is_well_formed(KEY, "key_zz"));
    }
}
