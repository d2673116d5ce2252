//! The verification index: every key and root key by the hash of its secret, in memory.
//!
//! On one node every write goes through this process, so the index is complete and exact:
//! an unknown key is answered `NOT_FOUND` without a database round-trip, and a revocation
//! replaces the entry before the revoke call answers (revocation beats the cache). With
//! several nodes on one database, `follow.rs` puts what the other nodes wrote (read back from
//! the store through the change log) into the index the same way. Lookups
//! are by SHA-256 digest of the presented key, which an attacker cannot steer toward a stored
//! digest, so the map's lookup time reveals nothing useful; the final comparison of digests
//! is constant-time (`KeyHash: PartialEq`). Keys are held compactly (`key_table.rs`) and a
//! lookup builds the full record of the one key found.

use crate::key_table::{KeyMemory, KeyTable};
use keyward_core::{
    KeyHash, KeyPrefix, KeyRecord, RootKey, Store, StoreError, VerificationAudit, Workspace,
    WorkspaceSettings,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct KeyIndex {
    keys: RwLock<KeyTable>,
    root_keys: RwLock<HashMap<KeyHash, Arc<RootKey>>>,
    /// Workspace id → issuer prefix, parsed once, for issuing keys.
    prefixes: RwLock<HashMap<String, KeyPrefix>>,
    /// Workspace id → audit settings, for workspaces that changed the defaults.
    settings: RwLock<HashMap<String, WorkspaceSettings>>,
    /// Key id → the id of the key it replaced (rotation), for keys that replaced one.
    predecessors: RwLock<HashMap<String, String>>,
    /// Key id → digest, for keys that replaced one: how a rotated key finds its replacement.
    replacements: RwLock<HashMap<String, KeyHash>>,
    /// Whether any imported key was ever placed (never cleared: at worst a string that is not
    /// a keyward key costs a hash and a map miss).
    has_imported: AtomicBool,
}

/// Bounds of a string that may be an imported key: anything outside is `NOT_FOUND` unhashed.
pub const IMPORTED_KEY_BYTES: std::ops::RangeInclusive<usize> = 8..=512;

/// Longest rotation chain followed; rotations are made one by one by people, so a chain
/// this long does not occur, and the bound keeps a lookup cheap whatever the data holds.
const MAX_CHAIN: usize = 1024;

/// Keys read from storage are placed this many at a time, under one write lock.
const LOAD_BATCH: usize = 4096;

impl KeyIndex {
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let started = std::time::Instant::now();
        let index = Self::default();
        index.refill(store).await?;
        let memory = index.key_memory();
        tracing::info!(
            keys = memory.keys,
            bytes_per_key = memory.bytes_per_key(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "key index loaded"
        );
        Ok(index)
    }

    /// Reads every key, root key, workspace and settings from storage into the index. Nothing
    /// is ever deleted from storage (keys and root keys are revoked, not removed), so putting
    /// everything again brings an index that missed changes up to date.
    pub async fn refill(&self, store: &dyn Store) -> Result<(), StoreError> {
        let roots = store.root_keys().await?;
        self.reload_workspaces(store).await?;
        // Streamed: a million keys are never all held as full records at once.
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        store
            .each_key(&mut |key| {
                batch.push(key);
                if batch.len() == LOAD_BATCH {
                    self.put_keys(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(LOAD_BATCH),
                    ));
                }
            })
            .await?;
        self.put_keys(batch);
        self.finish_keys();
        for root in roots {
            self.put_root_key(root);
        }
        Ok(())
    }

    /// Completes a load of many keys: rotation links, and the table's spare room given back.
    pub(crate) fn finish_keys(&self) {
        self.link_replacements();
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .shrink_to_fit();
    }

    /// Every key's full record, in slot order, to `each` (under the keys' read lock: a
    /// verification still reads, a write waits); stops at the first error `each` returns.
    pub(crate) fn each_key<E>(
        &self,
        mut each: impl FnMut(KeyRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let table = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let done = table.records().try_for_each(&mut each);
        done
    }

    /// A replacement read before the key it replaced is not yet known as one when placed:
    /// found here by id, in one walk over the keys, when there is any such.
    fn link_replacements(&self) {
        let predecessors = self.predecessors.read().unwrap_or_else(|p| p.into_inner());
        let mut replacements = self.replacements.write().unwrap_or_else(|p| p.into_inner());
        if predecessors.keys().all(|id| replacements.contains_key(id)) {
            return;
        }
        let table = self.keys.read().unwrap_or_else(|p| p.into_inner());
        for (id, hash) in table.ids() {
            if predecessors.contains_key(id) {
                replacements.insert(id.to_owned(), hash);
            }
        }
    }

    /// Re-reads every workspace's prefix and settings.
    pub async fn reload_workspaces(&self, store: &dyn Store) -> Result<(), StoreError> {
        let workspaces = store.workspaces().await?;
        let settings = store.workspace_settings().await?;
        for s in settings {
            self.put_settings(s);
        }
        for workspace in workspaces {
            self.put_workspace(&workspace);
        }
        Ok(())
    }

    /// Re-reads root keys and workspaces (created by another process, e.g. `keyward init`).
    pub async fn reload_root_keys(&self, store: &dyn Store) -> Result<(), StoreError> {
        let workspaces = store.workspaces().await?;
        let roots = store.root_keys().await?;
        for workspace in workspaces {
            self.put_workspace(&workspace);
        }
        for root in roots {
            self.put_root_key(root);
        }
        Ok(())
    }

    pub fn key(&self, hash: &KeyHash) -> Option<Arc<KeyRecord>> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.get(hash).map(Arc::new)
    }

    /// The imported key whose digest is that of `presented`, a string that is not a keyward
    /// key: only imported keys are looked up this way, so a malformed keyward key can never
    /// match one of keyward's own; without imported keys nothing is hashed.
    pub fn imported_key(&self, presented: &str) -> Option<Arc<KeyRecord>> {
        if !self.has_imported.load(Ordering::Relaxed)
            || !IMPORTED_KEY_BYTES.contains(&presented.len())
        {
            return None;
        }
        let hash = KeyHash::of(presented);
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.is_imported(&hash)
            .then(|| keys.get(&hash))
            .flatten()
            .map(Arc::new)
    }

    pub fn put_key(&self, key: KeyRecord) {
        self.put_keys(vec![key]);
    }

    /// Places keys, each replacing the one with the same digest.
    pub(crate) fn put_keys(&self, keys: Vec<KeyRecord>) {
        if keys.iter().any(|key| key.imported) {
            self.has_imported.store(true, Ordering::Relaxed);
        }
        for key in &keys {
            self.note_replacement(key);
        }
        {
            let predecessors = self.predecessors.read().unwrap_or_else(|p| p.into_inner());
            let replacing: Vec<_> = keys
                .iter()
                .filter(|key| predecessors.contains_key(&key.id))
                .collect();
            if !replacing.is_empty() {
                let mut replacements = self.replacements.write().unwrap_or_else(|p| p.into_inner());
                for key in replacing {
                    replacements.insert(key.id.clone(), key.hash);
                }
            }
        }
        let mut table = self.keys.write().unwrap_or_else(|p| p.into_inner());
        table.reserve(keys.len());
        for key in keys {
            if !table.put(key) {
                tracing::error!("the key index is full; a key was left out");
            }
        }
    }

    fn note_replacement(&self, key: &KeyRecord) {
        if let Some(successor) = &key.replaced_by {
            let mut predecessors = self.predecessors.write().unwrap_or_else(|p| p.into_inner());
            predecessors.insert(successor.clone(), key.id.clone());
        }
    }

    /// The last key of `key`'s rotation chain, for a rotated key: during its grace period a
    /// rotated key is limited as its replacement is now (a rate limit added to the
    /// replacement binds it too). `None` for a key that was not rotated.
    pub fn latest_replacement(&self, key: &KeyRecord) -> Option<Arc<KeyRecord>> {
        let mut latest: Option<Arc<KeyRecord>> = None;
        let mut next = key.replaced_by.clone();
        for _ in 0..MAX_CHAIN {
            let Some(id) = next else {
                break;
            };
            let hash = {
                let replacements = self.replacements.read().unwrap_or_else(|p| p.into_inner());
                replacements.get(&id).copied()
            };
            let Some(record) = hash.and_then(|h| self.key(&h)) else {
                break;
            };
            next = record.replaced_by.clone();
            latest = Some(record);
        }
        latest
    }

    /// The id `key`'s rate-limit window is counted under: that of the first key of its
    /// rotation chain. A rotated key and its replacements share one window, so rotating
    /// neither resets the window nor doubles it during the grace period.
    pub fn rate_limit_counter<'k>(&self, key: &'k KeyRecord) -> Cow<'k, str> {
        let predecessors = self.predecessors.read().unwrap_or_else(|p| p.into_inner());
        let Some(mut first) = predecessors.get(&key.id) else {
            return Cow::Borrowed(&key.id);
        };
        for _ in 0..MAX_CHAIN {
            match predecessors.get(first) {
                Some(before) => first = before,
                None => break,
            }
        }
        Cow::Owned(first.clone())
    }

    pub fn root_key(&self, hash: &KeyHash) -> Option<Arc<RootKey>> {
        let roots = self.root_keys.read().unwrap_or_else(|p| p.into_inner());
        roots.get(hash).filter(|k| k.hash == *hash).cloned()
    }

    /// The root key `id` of `workspace_id` (a walk over every root key: there are few).
    pub fn root_key_by_id(&self, workspace_id: &str, id: &str) -> Option<Arc<RootKey>> {
        let roots = self.root_keys.read().unwrap_or_else(|p| p.into_inner());
        roots
            .values()
            .find(|k| k.id == id && k.workspace_id == workspace_id)
            .cloned()
    }

    pub fn put_root_key(&self, root: RootKey) {
        let mut roots = self.root_keys.write().unwrap_or_else(|p| p.into_inner());
        roots.insert(root.hash, Arc::new(root));
    }

    /// Records the workspace's issuer prefix. A stored prefix that does not parse (only a
    /// database edited by hand holds one) is left out: issuing in that workspace fails.
    pub fn put_workspace(&self, workspace: &Workspace) {
        let Ok(prefix) = KeyPrefix::parse(&workspace.prefix) else {
            tracing::warn!(workspace_id = %workspace.id, "the workspace's stored key prefix is invalid");
            return;
        };
        let mut prefixes = self.prefixes.write().unwrap_or_else(|p| p.into_inner());
        prefixes.insert(workspace.id.clone(), prefix);
    }

    pub fn workspace_prefix(&self, workspace_id: &str) -> Option<KeyPrefix> {
        let prefixes = self.prefixes.read().unwrap_or_else(|p| p.into_inner());
        prefixes.get(workspace_id).cloned()
    }

    pub fn settings(&self, workspace_id: &str) -> WorkspaceSettings {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        settings
            .get(workspace_id)
            .cloned()
            .unwrap_or_else(|| WorkspaceSettings::defaults(workspace_id))
    }

    /// The audit level of a verification in the workspace that named `action`: its first
    /// matching rule's, else its `verification_audit` (the hot path needs only this, not a
    /// copy of the whole settings).
    pub fn verification_level(
        &self,
        workspace_id: &str,
        action: Option<&str>,
    ) -> VerificationAudit {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        settings
            .get(workspace_id)
            .map_or(VerificationAudit::All, |s| {
                s.audit_rules.level(action, s.verification_audit)
            })
    }

    pub fn put_settings(&self, settings: WorkspaceSettings) {
        let mut all = self.settings.write().unwrap_or_else(|p| p.into_inner());
        all.insert(settings.workspace_id.clone(), settings);
    }

    pub fn key_count(&self) -> usize {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// What the keys occupy in memory, counted from the index's own structures.
    pub fn key_memory(&self) -> KeyMemory {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).memory()
    }

    pub fn root_key_count(&self) -> usize {
        self.root_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}
