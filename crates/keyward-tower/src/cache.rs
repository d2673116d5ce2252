//! The optional cache of positive answers: bounded in entries and in time, keyed by a digest
//! of everything the answer depended on, never holding a key.
//!
//! What it costs: a key revoked, disabled or restricted in keyward is still accepted from the
//! cache until its entry's time to live ends (at most [`PositiveCache::new`]'s `ttl`), and a
//! request answered from the cache is not sent to keyward, so it is not in the audit trail
//! and not counted in the key's usage. Answers for keys with usage credits or a rate limit
//! are never cached, since keyward must count each of their requests; refusals are never
//! cached either.

use crate::verified::VerifiedKey;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// Cached positive answers: at most `capacity` entries, each used for at most `ttl`.
/// Off unless given to [`crate::KeywardAuthBuilder::cache`].
pub struct PositiveCache {
    entries: quick_cache::sync::Cache<[u8; 32], Entry>,
    ttl: Duration,
}

#[derive(Clone)]
struct Entry {
    key: VerifiedKey,
    until: Instant,
}

/// Everything a cached answer depended on.
pub(crate) struct Question<'a> {
    pub key: &'a SecretString,
    pub permission: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub origin: Option<&'a str>,
}

impl Question<'_> {
    /// A SHA-256 digest over every part, each length-prefixed so no two questions share one.
    fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        let parts = [
            Some(self.key.expose_secret()),
            self.permission,
            self.ip,
            self.origin,
        ];
        for part in parts {
            match part {
                Some(text) => {
                    hash.update([1]);
                    hash.update((text.len() as u64).to_be_bytes());
                    hash.update(text.as_bytes());
                }
                None => hash.update([0]),
            }
        }
        hash.finalize().into()
    }
}

impl PositiveCache {
    /// A cache of at most `capacity` answers, each used for at most `ttl`: the longest a
    /// revoked key can still be accepted.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            ttl,
        }
    }

    /// The cached key for `question`, if one is stored and still fresh.
    pub(crate) fn get(&self, question: &Question<'_>) -> Option<VerifiedKey> {
        let digest = question.digest();
        let entry = self.entries.get(&digest)?;
        if Instant::now() >= entry.until {
            self.entries.remove(&digest);
            return None;
        }
        let mut key = entry.key;
        key.cached = true;
        Some(key)
    }

    /// Keeps `key` as the answer to `question`, unless keyward must see each request for it
    /// (credits, a rate limit); never past the key's own expiry.
    pub(crate) fn keep(&self, question: &Question<'_>, key: &VerifiedKey, rate_limited: bool) {
        if rate_limited || key.credits.is_some() {
            return;
        }
        let mut ttl = self.ttl;
        if let Some(expires_at) = key.expires_at {
            let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
            ttl = ttl.min(left);
        }
        if ttl.is_zero() {
            return;
        }
        let entry = Entry {
            key: key.clone(),
            until: Instant::now() + ttl,
        };
        self.entries.insert(question.digest(), entry);
    }
}

impl fmt::Debug for PositiveCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PositiveCache")
            .field("capacity", &self.entries.capacity())
            .field("entries", &self.entries.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(name: &str) -> VerifiedKey {
        let mut key = VerifiedKey::new(format!("key_{name}"), name);
        key.permissions = vec!["invoices:read".into()];
        key
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_used_until_its_time_to_live_ends() {
        let cache = PositiveCache::new(10, Duration::from_secs(30));
        let key = secret("bos_one");
        let question = Question {
            key: &key,
            permission: Some("invoices:read"),
            ip: Some("203.0.113.9"),
            origin: None,
        };
        assert_eq!(cache.get(&question), None);
        cache.keep(&question, &verified("one"), false);
        let hit = cache.get(&question).unwrap();
        assert!(hit.cached);
        assert_eq!(hit.name, "one");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(cache.get(&question).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.get(&question), None, "expired at its time to live");
    }

    #[tokio::test(start_paused = true)]
    async fn another_permission_ip_or_origin_is_another_question() {
        let cache = PositiveCache::new(10, Duration::from_secs(30));
        let key = secret("bos_one");
        let asked = Question {
            key: &key,
            permission: Some("invoices:read"),
            ip: Some("203.0.113.9"),
            origin: None,
        };
        cache.keep(&asked, &verified("one"), false);
        let other_key = secret("bos_two");
        let others = [
            Question {
                permission: Some("invoices:delete"),
                ..asked
            },
            Question {
                ip: Some("198.51.100.1"),
                ..asked
            },
            Question {
                origin: Some("https://evil.example"),
                ..asked
            },
            Question {
                permission: None,
                ..asked
            },
            Question {
                key: &other_key,
                ..asked
            },
        ];
        for other in &others {
            assert_eq!(cache.get(other), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keys_keyward_must_count_are_never_kept() {
        let cache = PositiveCache::new(10, Duration::from_secs(30));
        let key = secret("bos_one");
        let question = Question {
            key: &key,
            permission: None,
            ip: None,
            origin: None,
        };
        cache.keep(&question, &verified("limited"), true);
        assert_eq!(cache.get(&question), None);
        let mut with_credits = verified("credits");
        with_credits.credits = Some(10);
        cache.keep(&question, &with_credits, false);
        assert_eq!(cache.get(&question), None);
        let mut expired = verified("expired");
        expired.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
        cache.keep(&question, &expired, false);
        assert_eq!(cache.get(&question), None);
    }

    #[test]
    fn the_cache_is_bounded_and_debug_shows_no_key() {
        let cache = PositiveCache::new(2, Duration::from_secs(30));
        let keys: Vec<_> = (0..50).map(|i| secret(&format!("bos_{i}"))).collect();
        for key in &keys {
            let question = Question {
                key,
                permission: None,
                ip: None,
                origin: None,
            };
            cache.keep(&question, &verified("x"), false);
        }
        assert!(cache.entries.len() <= 2, "{}", cache.entries.len());
        assert!(!format!("{cache:?}").contains("bos_"));
    }
}
