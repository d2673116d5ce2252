//! What the chapters build with and check with: records as the server would write them, a
//! model of what the store should hold, and a chain check that reads through the `Store`.

use crate::Engine;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::audit::{ChainReport, ChainVerifier};
use keyward_core::ids::{self, new_id};
use keyward_core::{
    AuditEvent, AuditFilter, EventKind, KeyFilter, KeyHash, KeyRecord, KeyStatus, NewEvent,
    Permission, RootKey, Store, StoreError, Workspace,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A fresh database of `engine` and a store open on it.
pub async fn fresh<E: Engine>(engine: &E) -> Result<(E::Database, Arc<E::Store>)> {
    let db = engine.create().await.context("creating a database")?;
    let store = engine.open(&db).await.context("opening a new database")?;
    Ok((db, Arc::new(store)))
}

/// Closes `store` (its last handle) and opens the same database again.
pub async fn reopen<E: Engine>(
    engine: &E,
    db: &E::Database,
    store: Arc<E::Store>,
) -> Result<Arc<E::Store>> {
    let store = Arc::into_inner(store).context("the test let go of every other handle")?;
    engine.close(store).await?;
    Ok(Arc::new(engine.open(db).await.context("reopening")?))
}

/// A start time with the millisecond precision the domain clock and the stores keep.
pub fn start() -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(1_767_225_600_123).context("a valid start time")
}

pub fn permissions(texts: &[&str]) -> Result<Vec<Permission>> {
    texts
        .iter()
        .map(|text| Permission::parse(text).context("a valid permission"))
        .collect()
}

pub fn new_root_key(
    ws: &Workspace,
    name: &str,
    permissions: Vec<Permission>,
    now: DateTime<Utc>,
) -> RootKey {
    RootKey {
        id: new_id(ids::ROOT_KEY),
        workspace_id: ws.id.clone(),
        name: name.into(),
        hash: KeyHash::of(&new_id("root_secret")),
        start: format!("{}_root_", ws.prefix),
        permissions,
        created_at: now,
        revoked_at: None,
    }
}

/// A key with every optional field that a round trip could lose: a description, metadata
/// with nested values, permissions.
pub fn new_key(
    ws: &Workspace,
    name: &str,
    owner: Option<&str>,
    now: DateTime<Utc>,
) -> Result<KeyRecord> {
    let secret = new_id(&ws.prefix);
    let mut metadata = serde_json::Map::new();
    metadata.insert("team".into(), serde_json::json!("payments"));
    metadata.insert(
        "limits".into(),
        serde_json::json!({ "rps": 10, "burst": [1, 2.5, null] }),
    );
    Ok(KeyRecord {
        imported: false,
        id: new_id(ids::KEY),
        workspace_id: ws.id.clone(),
        name: name.into(),
        description: Some(format!("{name}, made by the conformance suite")),
        owner_id: owner.map(str::to_owned),
        hash: KeyHash::of(&secret),
        start: secret.chars().take(ws.prefix.len() + 5).collect(),
        permissions: permissions(&["invoices:read", "payroll:*"])?,
        enabled: true,
        expires_at: None,
        metadata,
        created_at: now,
        updated_at: now,
        revoked_at: None,
        revoked_reason: None,
        replaced_by: None,
        restrictions: Default::default(),
    })
}

/// Creates a workspace at `at`, with its bootstrap root key and one `workspace.created` event.
pub async fn lone_workspace(
    store: &dyn Store,
    name: &str,
    prefix: &str,
    at: DateTime<Utc>,
) -> Result<Workspace> {
    let workspace = Workspace {
        id: new_id(ids::WORKSPACE),
        name: name.into(),
        prefix: prefix.into(),
        created_at: at,
    };
    let root = new_root_key(&workspace, "bootstrap", permissions(&["*"])?, at);
    let created = NewEvent::new(&workspace.id, at, EventKind::WorkspaceCreated);
    store
        .create_workspace(&workspace, &root, vec![created])
        .await?;
    Ok(workspace)
}

/// Recomputes a workspace's chain from the genesis (or its checkpoint), reading it in small
/// ascending pages, and checks it ends at the stored head.
pub async fn verify_chain(store: &dyn Store, workspace_id: &str) -> Result<ChainReport> {
    let mut verifier = ChainVerifier::new(store.checkpoint(workspace_id).await?);
    let mut after_seq = 0;
    loop {
        let page = store.events_ascending(workspace_id, after_seq, 4).await?;
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        page.iter().for_each(|event| verifier.push(event));
    }
    let head = store.chain_head(workspace_id).await?;
    Ok(verifier.finish(head.as_ref().map(|h| (h.seq, h.hash.as_str()))))
}

/// Every event of a workspace, newest first.
pub async fn all_events(store: &dyn Store, workspace_id: &str) -> Result<Vec<AuditEvent>> {
    let filter = AuditFilter {
        limit: 10_000,
        ..AuditFilter::default()
    };
    Ok(store.events(workspace_id, &filter).await?)
}

/// Every event of a workspace, oldest first, read in pages.
pub async fn ascending(store: &dyn Store, workspace_id: &str) -> Result<Vec<AuditEvent>> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &AuditEvent| e.seq);
        let page = store.events_ascending(workspace_id, after, 1000).await?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

/// The seq of a workspace's chain head (0 before the first event).
pub async fn head_seq(store: &dyn Store, workspace_id: &str) -> Result<i64> {
    Ok(store.chain_head(workspace_id).await?.map_or(0, |h| h.seq))
}

/// A clock and a model of what the store should hold: the keys written and the length of
/// each workspace's chain, so a test can compare the store with what it was told.
pub struct Story {
    pub store: Arc<dyn Store>,
    pub now: DateTime<Utc>,
    /// Each workspace's bootstrap root key, the actor of the events written in it.
    actors: HashMap<String, (String, String)>,
    pub keys: BTreeMap<String, KeyRecord>,
    expected_len: HashMap<String, i64>,
}

impl Story {
    pub fn new(store: Arc<dyn Store>) -> Result<Self> {
        Ok(Self {
            store,
            now: start()?,
            actors: HashMap::new(),
            keys: BTreeMap::new(),
            expected_len: HashMap::new(),
        })
    }

    /// Moves the clock on by a little over a second and returns the new time.
    pub fn tick(&mut self) -> DateTime<Utc> {
        self.now += Duration::milliseconds(1_001);
        self.now
    }

    /// An event now in the workspace, by its bootstrap root key.
    pub fn event(&self, ws: &Workspace, kind: EventKind) -> NewEvent {
        self.event_in(&ws.id, kind)
    }

    pub fn event_in(&self, workspace_id: &str, kind: EventKind) -> NewEvent {
        let event = NewEvent::new(workspace_id, self.now, kind);
        match self.actors.get(workspace_id) {
            Some((id, name)) => event.actor(id, name),
            None => event,
        }
    }

    /// Records in the model that `n` events were appended to the workspace's chain.
    pub fn appended(&mut self, ws: &Workspace, n: i64) {
        self.appended_in(&ws.id, n);
    }

    fn appended_in(&mut self, workspace_id: &str, n: i64) {
        *self
            .expected_len
            .entry(workspace_id.to_owned())
            .or_default() += n;
    }

    /// How many events the model says the workspace's chain holds.
    pub fn expected_len(&self, ws: &Workspace) -> i64 {
        self.expected_len.get(&ws.id).copied().unwrap_or(0)
    }

    pub async fn head_seq(&self, ws: &Workspace) -> Result<i64> {
        head_seq(self.store.as_ref(), &ws.id).await
    }

    /// Asserts that the workspace's chain holds exactly the events the model counted.
    pub async fn assert_chain_length(&self, ws: &Workspace) -> Result<()> {
        assert_eq!(
            self.head_seq(ws).await?,
            self.expected_len(ws),
            "events recorded in {}",
            ws.name
        );
        Ok(())
    }

    /// Asserts that `result` is [`StoreError::NameTaken`] and that it recorded nothing.
    pub async fn assert_name_taken(
        &self,
        result: Result<(), StoreError>,
        ws: &Workspace,
    ) -> Result<()> {
        assert!(matches!(result, Err(StoreError::NameTaken)), "{result:?}");
        self.assert_chain_length(ws).await
    }

    /// Creates a workspace named `name` with its bootstrap root key and the two events
    /// recording both.
    pub async fn create_workspace(&mut self, name: &str) -> Result<(Workspace, RootKey)> {
        let now = self.tick();
        let workspace = Workspace {
            id: new_id(ids::WORKSPACE),
            name: name.into(),
            prefix: name.chars().take(3).collect(),
            created_at: now,
        };
        let root_key = new_root_key(&workspace, "bootstrap", permissions(&["*"])?, now);
        self.actors.insert(
            workspace.id.clone(),
            (root_key.id.clone(), root_key.name.clone()),
        );
        let events = vec![
            self.event(&workspace, EventKind::WorkspaceCreated),
            self.event(&workspace, EventKind::RootKeyCreated)
                .detail(root_key.id.clone()),
        ];
        self.store
            .create_workspace(&workspace, &root_key, events)
            .await?;
        self.appended(&workspace, 2);
        Ok((workspace, root_key))
    }

    pub fn key_event(&self, key: &KeyRecord, kind: EventKind) -> NewEvent {
        self.event_in(&key.workspace_id, kind)
            .subject(&key.id, &key.name)
    }

    pub async fn try_insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.store
            .insert_key(key, self.key_event(key, EventKind::KeyCreated))
            .await
    }

    /// Inserts a key, checks it reads back as written, and adds it to the model.
    pub async fn insert_key(&mut self, key: &KeyRecord) -> Result<()> {
        self.try_insert_key(key).await?;
        self.written(key).await
    }

    /// A new key named `name` in `ws`, inserted now.
    pub async fn add_key(
        &mut self,
        ws: &Workspace,
        name: &str,
        owner: Option<&str>,
    ) -> Result<KeyRecord> {
        let key = new_key(ws, name, owner, self.tick())?;
        self.insert_key(&key).await?;
        Ok(key)
    }

    pub async fn try_update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.store
            .update_key(key, self.key_event(key, EventKind::KeyUpdated))
            .await
    }

    /// Updates a key with an event of `kind`, checks it reads back as written, and records
    /// the change in the model.
    pub async fn update_key(&mut self, key: &KeyRecord, kind: EventKind) -> Result<()> {
        self.store
            .update_key(key, self.key_event(key, kind))
            .await?;
        self.written(key).await
    }

    /// Records in the model that `key` was written with one event, and checks that it reads
    /// back exactly as written.
    async fn written(&mut self, key: &KeyRecord) -> Result<()> {
        self.appended_in(&key.workspace_id, 1);
        self.keys.insert(key.id.clone(), key.clone());
        assert_eq!(
            self.store.key(&key.workspace_id, &key.id).await?.as_ref(),
            Some(key)
        );
        Ok(())
    }

    /// Rotates `old` into a new key of the same name, revoked after an hour's grace, and
    /// records both in the model. Returns the old key as rotated and its replacement.
    pub async fn rotate(
        &mut self,
        ws: &Workspace,
        old: &KeyRecord,
    ) -> Result<(KeyRecord, KeyRecord)> {
        let now = self.tick();
        let mut new = new_key(ws, &old.name, old.owner_id.as_deref(), now)?;
        new.permissions = old.permissions.clone();
        let mut rotated = old.clone();
        rotated.replaced_by = Some(new.id.clone());
        rotated.revoked_at = Some(now + Duration::hours(1));
        rotated.revoked_reason = Some("rotated".into());
        rotated.updated_at = now;
        let event = self
            .event_in(&old.workspace_id, EventKind::KeyRotated)
            .detail(new.id.clone());
        self.store.rotate_key(&rotated, &new, event).await?;
        self.appended_in(&old.workspace_id, 1);
        self.keys.insert(rotated.id.clone(), rotated.clone());
        self.keys.insert(new.id.clone(), new.clone());
        Ok((rotated, new))
    }

    pub fn filter(&self, owner: Option<&str>, status: Option<KeyStatus>, limit: u32) -> KeyFilter {
        KeyFilter {
            owner_id: owner.map(str::to_owned),
            status,
            now: self.now,
            before_id: None,
            limit,
        }
    }

    /// What `list_keys` should return, judged from the model: newest first.
    pub fn expected_list(
        &self,
        ws: &Workspace,
        owner: Option<&str>,
        status: Option<KeyStatus>,
        at: DateTime<Utc>,
    ) -> Vec<KeyRecord> {
        self.keys
            .values()
            .rev()
            .filter(|k| k.workspace_id == ws.id)
            .filter(|k| owner.is_none() || k.owner_id.as_deref() == owner)
            .filter(|k| status.is_none() || Some(k.status(at)) == status)
            .cloned()
            .collect()
    }

    /// Fills `ws` with keys in every status at `self.now`, and some due to change within two
    /// hours: revoked, rotated (in its grace period), expired, expiring, disabled, and seven
    /// owned by `pager`.
    pub async fn keys_in_every_status(&mut self, ws: &Workspace) -> Result<()> {
        let mut revoked = self.add_key(ws, "Reports Exporter", Some("user_2")).await?;
        revoked.revoked_at = Some(self.tick());
        revoked.revoked_reason = Some("leaked in a CI log".into());
        revoked.updated_at = self.now;
        self.update_key(&revoked, EventKind::KeyRevoked).await?;
        let billing = self.add_key(ws, "Billing Service", Some("user_1")).await?;
        self.rotate(ws, &billing).await?;
        let mut expired = new_key(ws, "Expired Partner Feed", Some("user_3"), self.tick())?;
        expired.expires_at = Some(self.now);
        expired.enabled = false;
        self.insert_key(&expired).await?;
        let mut expiring = new_key(ws, "Expiring Partner Feed", Some("user_3"), self.tick())?;
        expiring.expires_at = Some(self.now + Duration::minutes(30));
        self.insert_key(&expiring).await?;
        let mut disabled = new_key(ws, "Paused Warehouse Sync", None, self.tick())?;
        disabled.enabled = false;
        self.insert_key(&disabled).await?;
        for n in 0..7 {
            self.add_key(ws, &format!("Pager Duty Hook {n}"), Some("pager"))
                .await?;
        }
        Ok(())
    }
}
