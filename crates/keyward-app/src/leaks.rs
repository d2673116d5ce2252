//! Leak reports: every valid key in a report, customer key or root key, is revoked, with a
//! `key.leaked` event in its own workspace saying where it was found. Anyone may report, so
//! there is no caller; what the answer may reveal (nothing: the same answer, at a fixed time)
//! and the per-client limit are the edge's concern.

use crate::commit::Change;
use crate::error::AppResult;
use crate::events;
use crate::service::Keyward;
use keyward_core::advice::LEAK_REASON_PREFIX;
use keyward_core::{KeyHash, RootKey};
use std::collections::HashMap;
use std::net::IpAddr;

/// Longest `detail` of one `key.leaked` event (all the places one key was reported at).
const MAX_DETAIL_CHARS: usize = 1500;

/// A reported key with a valid checksum: where it was found, and whether it has the root-key
/// prefix (only then are root keys searched for it).
#[derive(Debug, Default)]
pub struct LeakedKey {
    pub places: Vec<String>,
    pub root_like: bool,
}

/// A leak report, parsed: the keys with a valid checksum by hash, who found them, and the
/// reporting client's address.
pub struct LeakReport {
    pub keys: HashMap<KeyHash, LeakedKey>,
    pub source: String,
    pub ip: Option<IpAddr>,
}

impl Keyward {
    /// Revokes every reported key that exists, customer key or root key, each with its
    /// `key.leaked` event; a key already revoked gets the event only.
    pub async fn revoke_leaked(&self, report: LeakReport) -> AppResult<()> {
        let LeakReport { keys, source, ip } = report;
        let now = self.clock.now();
        let writer = self.writer().await;
        // Root keys as stored, read once and only for a report holding something that looks
        // like one: another process (`keyward init`, `keyward root-key create`) may have
        // added root keys this server has not loaded yet.
        let mut stored_roots: Option<Vec<RootKey>> = None;
        for (hash, LeakedKey { places, root_like }) in keys {
            let detail = detail(&places, &source);
            if let Some(indexed) = self.index.key(&hash) {
                let Some(mut key) = self.store.key(&indexed.workspace_id, &indexed.id).await?
                else {
                    continue;
                };
                let event = events::key_leaked(&key, detail, ip, now);
                if key.revoked_at.is_some() {
                    // Already revoked: the owner still learns where it turned up.
                    writer.commit(Change::EventOnly, event).await?;
                    continue;
                }
                key.revoke(now, Some(format!("{LEAK_REASON_PREFIX}{source}")));
                writer.commit(Change::Key(&key), event).await?;
                tracing::warn!(key_id = %key.id, workspace_id = %key.workspace_id, "key reported leaked and revoked");
                continue;
            }
            if !root_like {
                continue;
            }
            if stored_roots.is_none() {
                stored_roots = Some(self.store.root_keys().await?);
            }
            let Some(mut root) = stored_roots
                .iter()
                .flatten()
                .find(|r| r.hash == hash)
                .cloned()
            else {
                continue;
            };
            let event = events::root_key_leaked(&root, &detail, ip, now);
            if root.revoked_at.is_some() {
                writer.commit(Change::EventOnly, event).await?;
                continue;
            }
            // Even the workspace's last root key goes: a leaked one must stop working, and
            // the owners can recover with `keyward root-key create`. The index drops it
            // before the answer: the next request with it is refused.
            root.revoked_at = Some(now);
            writer.commit(Change::RootKey(&root), event).await?;
            tracing::warn!(root_key_id = %root.id, workspace_id = %root.workspace_id, "root key reported leaked and revoked");
        }
        Ok(())
    }
}

fn detail(places: &[String], source: &str) -> String {
    let at = if places.is_empty() {
        "an unspecified place".to_owned()
    } else {
        places.join("; ")
    };
    let text = format!("found at {at}; reported by {source}");
    if text.chars().count() > MAX_DETAIL_CHARS {
        let cut: String = text.chars().take(MAX_DETAIL_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_names_places_and_source() {
        assert_eq!(
            detail(&["a.docx: word/document.xml".into()], "ci"),
            "found at a.docx: word/document.xml; reported by ci"
        );
        assert!(detail(&[], "x").contains("unspecified place"));
        assert!(detail(&["y".repeat(5000)], "x").chars().count() <= MAX_DETAIL_CHARS + 1);
    }
}
