//! The index's keys: compact records (`compact_key.rs`) in one vector, found by digest
//! through a hash table of 4-byte slot numbers. The digest lives once, in the record; the
//! table's comparison is `KeyHash`'s constant-time one. Workspace ids and permission sets are
//! interned, so the thousands of keys that share one are charged 4 bytes each for it.

use crate::compact_key::CompactKey;
use crate::interner::Interner;
use hashbrown::HashTable;
use keyward_core::{KeyHash, KeyRecord, Permission};
use std::hash::BuildHasher;

#[derive(Default)]
pub(crate) struct KeyTable {
    /// Slot numbers into `keys`, hashed by the digest (seeded per process).
    slots: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    keys: Vec<CompactKey>,
    workspaces: Interner<str>,
    permission_sets: Interner<[Permission]>,
}

/// What the index's keys occupy, counted from the structures themselves (so the same keys
/// always give the same figure), not measured from the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMemory {
    pub keys: usize,
    pub bytes: usize,
    /// Distinct workspace ids and permission sets held.
    pub workspaces: usize,
    pub permission_sets: usize,
}

impl KeyMemory {
    pub fn bytes_per_key(&self) -> usize {
        self.bytes.checked_div(self.keys).unwrap_or(0)
    }
}

impl KeyTable {
    pub(crate) fn get(&self, hash: &KeyHash) -> Option<KeyRecord> {
        let key = self.find(hash)?;
        let workspace = self.workspaces.get(key.workspace)?;
        let permissions = self.permission_sets.get(key.permissions)?;
        Some(key.record(workspace, permissions))
    }

    /// Whether the key with digest `hash` was imported, without building its record.
    pub(crate) fn is_imported(&self, hash: &KeyHash) -> bool {
        self.find(hash).is_some_and(|key| key.imported)
    }

    /// Places `record`, replacing the key with the same digest; what only the replaced record
    /// used (its texts, an interned value no other key shares) is freed. `false` only when
    /// the table is full (`u32::MAX` keys or distinct interned values).
    pub(crate) fn put(&mut self, record: KeyRecord) -> bool {
        let Some(workspace) = self.workspaces.acquire(&record.workspace_id) else {
            return false;
        };
        let Some(permissions) = self.permission_sets.acquire(&record.permissions) else {
            self.workspaces.release(workspace);
            return false;
        };
        let key = CompactKey::new(record, workspace, permissions);
        let hash = self.hasher.hash_one(key.hash);
        let Self {
            slots,
            hasher,
            keys,
            workspaces,
            permission_sets,
        } = self;
        let found = slots.find(hash, |&slot| {
            keys.get(slot as usize)
                .is_some_and(|stored| stored.hash == key.hash)
        });
        if let Some(old) = found.and_then(|&slot| keys.get_mut(slot as usize)) {
            let old = std::mem::replace(old, key);
            workspaces.release(old.workspace);
            permission_sets.release(old.permissions);
            return true;
        }
        let Ok(slot) = u32::try_from(keys.len()) else {
            workspaces.release(workspace);
            permission_sets.release(permissions);
            return false;
        };
        keys.push(key);
        slots.insert_unique(hash, slot, |&slot| {
            keys.get(slot as usize)
                .map_or(0, |stored| hasher.hash_one(stored.hash))
        });
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Room for `additional` more keys without growing (a load that knows its count).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.keys.reserve(additional);
        let Self {
            slots,
            hasher,
            keys,
            ..
        } = self;
        slots.reserve(additional, |&slot| {
            keys.get(slot as usize)
                .map_or(0, |stored| hasher.hash_one(stored.hash))
        });
    }

    /// Gives back what growing by doubling left unused (after a load).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.keys.shrink_to_fit();
    }

    /// Every key's full record, in slot order.
    pub(crate) fn records(&self) -> impl Iterator<Item = KeyRecord> + '_ {
        self.keys.iter().filter_map(|key| {
            let workspace = self.workspaces.get(key.workspace)?;
            let permissions = self.permission_sets.get(key.permissions)?;
            Some(key.record(workspace, permissions))
        })
    }

    /// Every key's id and digest (a walk over the compact records, for the rare lookup by id).
    pub(crate) fn ids(&self) -> impl Iterator<Item = (&str, KeyHash)> {
        self.keys.iter().map(|key| (key.id(), key.hash))
    }

    pub(crate) fn memory(&self) -> KeyMemory {
        let interned_bytes = self
            .workspaces
            .values()
            .map(str::len)
            .chain(self.permission_sets.values().map(|set| {
                set.iter()
                    .map(|p| size_of::<Permission>() + p.as_str().len())
                    .sum()
            }))
            .sum::<usize>();
        let bytes = self.slots.capacity() * (size_of::<u32>() + 1)
            + self.keys.capacity() * size_of::<CompactKey>()
            + self.keys.iter().map(CompactKey::heap_bytes).sum::<usize>()
            + self.workspaces.table_bytes()
            + self.permission_sets.table_bytes()
            + interned_bytes;
        KeyMemory {
            keys: self.keys.len(),
            bytes,
            workspaces: self.workspaces.len(),
            permission_sets: self.permission_sets.len(),
        }
    }

    fn find(&self, hash: &KeyHash) -> Option<&CompactKey> {
        let slot = self.slots.find(self.hasher.hash_one(hash), |&slot| {
            self.keys
                .get(slot as usize)
                .is_some_and(|stored| stored.hash == *hash)
        })?;
        self.keys.get(*slot as usize)
    }
}

/// The interned workspace id and permission set of a record, for tests that check sharing.
#[cfg(test)]
impl KeyTable {
    fn interned(
        &self,
        hash: &KeyHash,
    ) -> Option<(crate::interner::InternId, crate::interner::InternId)> {
        self.find(hash).map(|key| (key.workspace, key.permissions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn record(i: usize, workspace: &str, permissions: &[&str]) -> KeyRecord {
        let now = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap();
        KeyRecord {
            id: format!("key_{i:032x}"),
            workspace_id: workspace.into(),
            name: format!("Benchmark Invoice Integration {i:07}"),
            description: None,
            owner_id: Some(format!("customer-{}", i % 1000)),
            hash: digest(i),
            start: "bench_5Qm2".into(),
            imported: false,
            permissions: permissions
                .iter()
                .map(|p| Permission::parse(p).unwrap())
                .collect(),
            enabled: true,
            expires_at: None,
            metadata: Default::default(),
            created_at: now,
            updated_at: now,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: Default::default(),
        }
    }

    /// A distinct digest per `i`, cheaper than SHA-256 for a million keys in a debug build.
    fn digest(i: usize) -> KeyHash {
        let mut bytes = [0u8; 32];
        for (n, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = (i as u64 ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        KeyHash::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn keys_read_back_by_digest_and_unknown_digests_find_nothing() {
        let mut table = KeyTable::default();
        let records: Vec<_> = (0..1000)
            .map(|i| record(i, "ws_a", &["invoices:read"]))
            .collect();
        for r in &records {
            assert!(table.put(r.clone()));
        }
        assert_eq!(table.len(), 1000);
        for r in &records {
            assert_eq!(table.get(&r.hash).as_ref(), Some(r));
        }
        assert_eq!(table.get(&KeyHash::of("never stored")), None);
        assert!(!table.is_imported(&records[0].hash));
    }

    #[test]
    fn keys_with_the_same_workspace_and_permissions_share_them() {
        let mut table = KeyTable::default();
        let a = record(1, "ws_a", &["invoices:read", "payroll:*"]);
        let b = record(2, "ws_a", &["invoices:read", "payroll:*"]);
        let c = record(3, "ws_b", &["invoices:read"]);
        for r in [&a, &b, &c] {
            table.put(r.clone());
        }
        assert_eq!(table.interned(&a.hash), table.interned(&b.hash));
        assert_ne!(table.interned(&a.hash), table.interned(&c.hash));
        let memory = table.memory();
        assert_eq!((memory.workspaces, memory.permission_sets), (2, 2));
    }

    #[test]
    fn replacing_a_key_frees_what_only_its_old_record_used() {
        let mut table = KeyTable::default();
        let kept = record(1, "ws_a", &["invoices:read"]);
        table.put(kept.clone());
        let mut changed = record(2, "ws_b", &["payroll:*"]);
        changed.description = Some("x".repeat(500));
        table.put(changed.clone());
        let with_both = table.memory();
        assert_eq!((with_both.workspaces, with_both.permission_sets), (2, 2));
        // Back to the shared workspace and set, without the long description.
        let mut back = changed.clone();
        back.workspace_id = "ws_a".into();
        back.permissions = kept.permissions.clone();
        back.description = None;
        table.put(back.clone());
        let after = table.memory();
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(&changed.hash), Some(back));
        assert_eq!(table.get(&kept.hash), Some(kept));
        assert_eq!((after.workspaces, after.permission_sets), (1, 1));
        assert!(
            after.bytes + 500 <= with_both.bytes,
            "{after:?} {with_both:?}"
        );
    }

    #[test]
    fn a_typical_key_costs_less_than_300_bytes_at_a_million_keys() {
        // The benchmark's keys (`seed_keys`): one workspace, two permissions, a 37-character
        // name, a shared owner, nothing else. Counted, not measured: the figure is exact.
        let mut table = KeyTable::default();
        let count = 1_000_000;
        let template = record(
            0,
            "ws_0190f1c2a4b37c6d8e9f0a1b2c3d4e5f",
            &["invoices:read", "payroll:*"],
        );
        for i in 0..count {
            let mut key = template.clone();
            key.id = format!("key_{i:032x}");
            key.name = format!("Benchmark Invoice Integration {i:07}");
            key.owner_id = Some(format!("customer-{}", i % 1000));
            key.hash = digest(i);
            table.put(key);
        }
        let memory = table.memory();
        assert_eq!(memory.keys, count);
        assert!(memory.bytes_per_key() <= 300, "{memory:?}");
    }
}
