//! The conformance story for keyward's `Store`: one walk through everything the server relies
//! on, written against `Arc<dyn Store>` so another engine can run it unchanged (copy
//! `store_story`, `still_there` and their helpers, some in `main.rs`). Here it runs on SQLite: on a file that is
//! then closed and reopened, and in memory.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::audit::{ChainReport, ChainVerifier, GENESIS_HASH};
use keyward_core::ids::{self, new_id};
use keyward_core::{
    AuditEvent, AuditFilter, ChainHead, EventKind, EventOutcome, KeyFilter, KeyHash, KeyRecord,
    KeyStatus, NewEvent, Permission, RootKey, Store, StoreError, VerifyCode, Workspace,
};
use keyward_sqlite::SqliteStore;
use sqlx::Connection;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::{lone_workspace, memory_store};

#[tokio::test]
async fn a_file_store_tells_the_story_and_keeps_it_across_a_reopen() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("keyward.db");

    let store = Arc::new(SqliteStore::connect(&format!("sqlite://{}", path.display())).await?);
    store.migrate().await?;
    let written = store_story(store.clone()).await?;
    store.close().await;
    drop(store);

    let reopened = SqliteStore::connect(&format!("sqlite:{}", path.display())).await?;
    reopened
        .migrate()
        .await
        .context("migrating again is a no-op")?;
    still_there(Arc::new(reopened), &written).await?;

    // WAL is a property of the file, so a plain connection sees it too.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await?;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(mode, "wal");
    Ok(())
}

#[tokio::test]
async fn an_in_memory_store_tells_the_story() -> Result<()> {
    let store = memory_store().await?;
    let written = store_story(store.clone()).await?;
    still_there(store, &written).await
}

/// What the story left in the store, to be found again after a reconnect.
pub struct Written {
    pub workspaces: Vec<Workspace>,
    pub root_keys: Vec<RootKey>,
    pub keys: BTreeMap<String, KeyRecord>,
    pub heads: Vec<(String, Option<ChainHead>)>,
}

/// Runs the whole story on an empty, migrated store.
pub async fn store_story(store: Arc<dyn Store>) -> Result<Written> {
    let mut story = Story::new(store.clone())?;

    // Two workspaces, each created with its first root key and the events recording both.
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let (globex, globex_root) = story.create_workspace("globex").await?;
    let listed = store.workspaces().await?;
    assert!(listed.contains(&acme) && listed.contains(&globex));
    assert_eq!(store.chain_head(&acme.id).await?.map(|h| h.seq), Some(2));

    // Creating the same workspace again fails and records nothing.
    let again = store.create_workspace(
        &acme,
        &acme_root,
        vec![story.event(&acme, EventKind::WorkspaceCreated)],
    );
    assert!(again.await.is_err(), "a workspace id is unique");
    story.assert_chain_length(&acme).await?;

    // A second root key: inserted, then revoked; a root key is found only in its workspace.
    let now = story.tick();
    let mut deputy = new_root_key(
        &acme,
        "deputy",
        permissions(&["keys:read", "audit:read"])?,
        now,
    );
    store
        .insert_root_key(&deputy, story.event(&acme, EventKind::RootKeyCreated))
        .await?;
    story.appended(&acme, 1);
    deputy.revoked_at = Some(story.tick());
    deputy.name = "deputy (revoked)".into();
    store
        .update_root_key(&deputy, story.event(&acme, EventKind::RootKeyRevoked))
        .await?;
    story.appended(&acme, 1);
    let stranger = RootKey {
        workspace_id: globex.id.clone(),
        ..deputy.clone()
    };
    let moved = store
        .update_root_key(&stranger, story.event(&globex, EventKind::RootKeyRevoked))
        .await;
    assert!(matches!(moved, Err(StoreError::NotFound)), "{moved:?}");
    let root_keys = store.root_keys().await?;
    for root_key in [&acme_root, &globex_root, &deputy] {
        assert!(
            root_keys.contains(root_key),
            "root key {} reads back as written",
            root_key.id
        );
    }

    // Keys read back exactly as written, and only in their own workspace.
    let billing = new_key(&acme, "Billing Service", Some("user_1"), story.tick())?;
    story.insert_key(&billing).await?;
    assert_eq!(
        store.key(&acme.id, &billing.id).await?.as_ref(),
        Some(&billing)
    );
    assert_eq!(
        store.key(&globex.id, &billing.id).await?,
        None,
        "keys are scoped to their workspace"
    );
    assert_eq!(
        store
            .key(&acme.id, "key_00000000000000000000000000000000")
            .await?,
        None
    );

    // A live name is unique per workspace, case-insensitively; a failed insert records nothing.
    let clash = new_key(&acme, "BILLING service", None, story.tick())?;
    story
        .assert_name_taken(story.try_insert_key(&clash).await, &acme)
        .await?;
    assert_eq!(store.key(&acme.id, &clash.id).await?, None);
    let now = story.tick();
    story
        .insert_key(&new_key(&globex, "Billing Service", None, now)?)
        .await?;
    let nowhere = Workspace {
        id: new_id(ids::WORKSPACE),
        ..acme.clone()
    };
    let homeless = new_key(&nowhere, "Homeless Key", None, story.tick())?;
    assert!(
        story.try_insert_key(&homeless).await.is_err(),
        "a key needs an existing workspace"
    );

    // A revoked key gives up its name.
    let mut reports = new_key(&acme, "Reports Exporter", Some("user_2"), story.tick())?;
    story.insert_key(&reports).await?;
    reports.revoked_at = Some(story.tick());
    reports.revoked_reason = Some("leaked in a CI log".into());
    reports.updated_at = story.now;
    story.update_key(&reports, EventKind::KeyRevoked).await?;
    let reports = new_key(&acme, "reports exporter", Some("user_2"), story.tick())?;
    story.insert_key(&reports).await?;

    // Update replaces every mutable field; a rename onto a live name, an unknown id and another
    // workspace's key all fail without recording anything.
    let mut billing = billing;
    billing.description = None;
    billing.enabled = false;
    billing.permissions = permissions(&["*"])?;
    billing.expires_at = Some(story.now + Duration::days(30));
    billing
        .metadata
        .insert("tier".into(), serde_json::json!("gold"));
    billing.owner_id = Some("user_9".into());
    billing.updated_at = story.tick();
    story.update_key(&billing, EventKind::KeyUpdated).await?;
    let renamed = KeyRecord {
        name: "REPORTS Exporter".into(),
        ..billing.clone()
    };
    story
        .assert_name_taken(story.try_update_key(&renamed).await, &acme)
        .await?;
    let unknown = KeyRecord {
        id: new_id(ids::KEY),
        ..billing.clone()
    };
    assert!(matches!(
        story.try_update_key(&unknown).await,
        Err(StoreError::NotFound)
    ));
    let foreign = KeyRecord {
        workspace_id: globex.id.clone(),
        ..billing.clone()
    };
    assert!(matches!(
        story.try_update_key(&foreign).await,
        Err(StoreError::NotFound)
    ));
    story.assert_chain_length(&globex).await?;

    // Rotation: the old key is marked replaced (and revoked after a grace period), the new one
    // holds the name.
    let now = story.tick();
    let mut new_billing = new_key(&acme, "Billing Service", billing.owner_id.as_deref(), now)?;
    new_billing.permissions = billing.permissions.clone();
    let mut old_billing = billing.clone();
    old_billing.replaced_by = Some(new_billing.id.clone());
    old_billing.revoked_at = Some(now + Duration::hours(1));
    old_billing.revoked_reason = Some("rotated".into());
    old_billing.updated_at = now;
    let event = story
        .event(&acme, EventKind::KeyRotated)
        .detail(new_billing.id.clone());
    store.rotate_key(&old_billing, &new_billing, event).await?;
    story.appended(&acme, 1);
    story
        .keys
        .insert(old_billing.id.clone(), old_billing.clone());
    story
        .keys
        .insert(new_billing.id.clone(), new_billing.clone());
    assert_eq!(
        store.key(&acme.id, &old_billing.id).await?.as_ref(),
        Some(&old_billing)
    );
    assert_eq!(
        store.key(&acme.id, &new_billing.id).await?.as_ref(),
        Some(&new_billing)
    );
    let third = new_key(&acme, "billing SERVICE", None, story.tick())?;
    story
        .assert_name_taken(story.try_insert_key(&third).await, &acme)
        .await?;

    // Keys in every status: expired, disabled, revoked, and some due to change later.
    let mut expired = new_key(&acme, "Expired Partner Feed", Some("user_3"), story.tick())?;
    expired.expires_at = Some(story.now);
    expired.enabled = false;
    story.insert_key(&expired).await?;
    let mut expiring = new_key(&acme, "Expiring Partner Feed", Some("user_3"), story.tick())?;
    expiring.expires_at = Some(story.now + Duration::minutes(30));
    story.insert_key(&expiring).await?;
    let mut disabled = new_key(&acme, "Paused Warehouse Sync", None, story.tick())?;
    disabled.enabled = false;
    story.insert_key(&disabled).await?;
    for n in 0..7 {
        let now = story.tick();
        story
            .insert_key(&new_key(
                &acme,
                &format!("Pager Duty Hook {n}"),
                Some("pager"),
                now,
            )?)
            .await?;
    }

    // Listing: every status filter at two instants agrees with KeyRecord::status.
    let all = store.all_keys().await?;
    let expected_all: Vec<&KeyRecord> = story.keys.values().collect();
    assert_eq!(
        all.iter().collect::<Vec<_>>(),
        expected_all,
        "all_keys is every key, oldest first"
    );
    for at in [story.now, story.now + Duration::hours(2)] {
        for status in [
            None,
            Some(KeyStatus::Active),
            Some(KeyStatus::Disabled),
            Some(KeyStatus::Expired),
            Some(KeyStatus::Revoked),
        ] {
            let filter = KeyFilter {
                owner_id: None,
                status,
                now: at,
                before_id: None,
                limit: 1000,
            };
            let listed = store.list_keys(&acme.id, &filter).await?;
            let expected = story.expected_list(&acme, None, status, at);
            assert_eq!(listed, expected, "status {status:?} at {at}");
            if at == story.now && status.is_some() {
                assert!(!expected.is_empty(), "the story has a {status:?} key");
            }
        }
    }
    let globex_keys = store
        .list_keys(&globex.id, &story.filter(None, None, 1000))
        .await?;
    assert_eq!(
        globex_keys,
        story.expected_list(&globex, None, None, story.now)
    );

    // Cursor pagination: no key skipped or repeated, also with owner and status filters.
    for (owner, status, limit) in [
        (Some("pager"), None, 3),
        (None, Some(KeyStatus::Active), 2),
        (None, None, 1),
    ] {
        let mut filter = story.filter(owner, status, limit);
        let mut seen = Vec::new();
        loop {
            let page = store.list_keys(&acme.id, &filter).await?;
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else { break };
            filter.before_id = Some(last.id.clone());
            seen.extend(page);
        }
        assert_eq!(
            seen,
            story.expected_list(&acme, owner, status, story.now),
            "{owner:?} {status:?} by {limit}"
        );
    }

    // Verifications from both workspaces in one append keep two separate chains.
    let before = (story.head_seq(&acme).await?, story.head_seq(&globex).await?);
    let mut batch = Vec::new();
    for (n, ws) in [&acme, &globex, &acme, &acme, &globex]
        .into_iter()
        .enumerate()
    {
        let mut event = story.event(ws, EventKind::KeyVerified);
        event.action = Some(
            if n % 2 == 0 {
                "invoices.read"
            } else {
                "invoices.delete"
            }
            .into(),
        );
        event.resource = Some(format!("INV-{n}"));
        event.outcome = if n == 3 {
            "INSUFFICIENT_PERMISSIONS"
        } else {
            "VALID"
        }
        .into();
        event.ip = Some("203.0.113.7".into());
        event.user_agent = Some("story/1.0".into());
        if ws.id == acme.id {
            event = event.subject(&new_billing.id, &new_billing.name);
        }
        story.appended(ws, 1);
        batch.push(event);
    }
    store.append_events(batch).await?;
    store.append_events(Vec::new()).await?;
    assert_eq!(story.head_seq(&acme).await?, before.0 + 3);
    assert_eq!(story.head_seq(&globex).await?, before.1 + 2);

    // A batch larger than one multi-row INSERT (500 rows), interleaving two chains, is
    // written in order and chained (the chains are verified at the end of the story).
    let mut big = Vec::new();
    for n in 0..1201 {
        let ws = if n % 3 == 0 { &globex } else { &acme };
        story.appended(ws, 1);
        big.push(story.event(ws, EventKind::KeyVerified));
    }
    store.append_events(big).await?;
    assert_eq!(story.head_seq(&acme).await?, before.0 + 3 + 800);
    assert_eq!(story.head_seq(&globex).await?, before.1 + 2 + 401);

    // Concurrent writers queue rather than fail, and the chain stays whole.
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = store.clone();
        let events = vec![
            story.event(&acme, EventKind::KeyVerified),
            story.event(&globex, EventKind::KeyVerified),
        ];
        let key = new_key(&globex, &format!("Concurrent Worker {n}"), None, story.now)?;
        let key_event = story
            .event(&globex, EventKind::KeyCreated)
            .subject(&key.id, &key.name);
        tasks.push(tokio::spawn(async move {
            store.append_events(events).await?;
            store.insert_key(&key, key_event).await?;
            Ok::<_, StoreError>(key)
        }));
    }
    for task in tasks {
        let key = task.await??;
        story.keys.insert(key.id.clone(), key);
        story.appended(&acme, 1);
        story.appended(&globex, 2);
    }

    // The audit log: newest first, each event chained to the one before, and whole.
    for ws in [&acme, &globex] {
        story.assert_chain_length(ws).await?;
        let report = verify_chain(store.as_ref(), &ws.id).await?;
        assert!(report.valid, "{report:?}");
        assert_eq!(
            Some(report.events as i64),
            story.expected_len.get(&ws.id).copied()
        );
        let newest_first = all_events(store.as_ref(), &ws.id).await?;
        let seqs: Vec<i64> = newest_first.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=report.events as i64).rev().collect::<Vec<_>>());
        for pair in newest_first.windows(2) {
            assert_eq!(pair[0].prev_hash, pair[1].hash);
        }
        assert_eq!(
            newest_first.last().map(|e| e.prev_hash.as_str()),
            Some(GENESIS_HASH)
        );
        assert!(newest_first.iter().all(|e| e.event.workspace_id == ws.id));
    }
    let acme_events = all_events(store.as_ref(), &acme.id).await?;
    let first = acme_events.last().context("acme has events")?;
    assert_eq!(first.event.kind, EventKind::WorkspaceCreated.as_str());
    assert_eq!(first.event.actor_id.as_deref(), Some(acme_root.id.as_str()));

    // Each audit filter selects exactly what it says.
    let middle_time = acme_events[acme_events.len() / 2].event.time;
    let middle_seq = acme_events[acme_events.len() / 2].seq;
    let filters: Vec<(AuditFilter, Wanted)> = vec![
        (
            AuditFilter {
                key_id: Some(reports.id.clone()),
                ..AuditFilter::default()
            },
            {
                let id = reports.id.clone();
                Box::new(move |e: &AuditEvent| e.event.key_id.as_deref() == Some(id.as_str()))
            },
        ),
        (
            AuditFilter {
                kind: Some(EventKind::KeyCreated),
                ..AuditFilter::default()
            },
            Box::new(|e: &AuditEvent| e.event.kind == "key.created"),
        ),
        (
            AuditFilter {
                action: Some("invoices.read".into()),
                ..AuditFilter::default()
            },
            Box::new(|e: &AuditEvent| e.event.action.as_deref() == Some("invoices.read")),
        ),
        (
            AuditFilter {
                outcome: Some(EventOutcome::Verify(VerifyCode::InsufficientPermissions)),
                ..AuditFilter::default()
            },
            Box::new(|e: &AuditEvent| e.event.outcome == "INSUFFICIENT_PERMISSIONS"),
        ),
        (
            AuditFilter {
                since: Some(middle_time),
                ..AuditFilter::default()
            },
            Box::new(move |e: &AuditEvent| e.event.time >= middle_time),
        ),
        (
            AuditFilter {
                until: Some(middle_time),
                ..AuditFilter::default()
            },
            Box::new(move |e: &AuditEvent| e.event.time < middle_time),
        ),
        (
            AuditFilter {
                before_seq: Some(middle_seq),
                ..AuditFilter::default()
            },
            Box::new(move |e: &AuditEvent| e.seq < middle_seq),
        ),
    ];
    for (filter, wanted) in filters {
        let filter = AuditFilter {
            limit: 10_000,
            ..filter
        };
        let expected: Vec<&AuditEvent> = acme_events.iter().filter(|e| wanted(e)).collect();
        assert!(
            !expected.is_empty() && expected.len() < acme_events.len(),
            "{filter:?} is a real test"
        );
        let found = store.events(&acme.id, &filter).await?;
        assert_eq!(found.iter().collect::<Vec<_>>(), expected, "{filter:?}");
    }
    let two = store
        .events(
            &acme.id,
            &AuditFilter {
                limit: 2,
                ..AuditFilter::default()
            },
        )
        .await?;
    assert_eq!(two.as_slice(), &acme_events[..2]);

    let mut heads = Vec::new();
    for ws in [&acme, &globex] {
        heads.push((ws.id.clone(), store.chain_head(&ws.id).await?));
    }
    Ok(Written {
        workspaces: vec![acme, globex],
        root_keys: vec![acme_root, globex_root, deputy],
        keys: story.keys,
        heads,
    })
}

/// Which events an audit filter should select.
type Wanted = Box<dyn Fn(&AuditEvent) -> bool>;

/// Checks that everything the story wrote is still there, e.g. after reopening the store.
pub async fn still_there(store: Arc<dyn Store>, written: &Written) -> Result<()> {
    let workspaces = store.workspaces().await?;
    let root_keys = store.root_keys().await?;
    for workspace in &written.workspaces {
        assert!(
            workspaces.contains(workspace),
            "workspace {} survives",
            workspace.id
        );
    }
    for root_key in &written.root_keys {
        assert!(
            root_keys.contains(root_key),
            "root key {} survives",
            root_key.id
        );
    }
    let keys: BTreeMap<String, KeyRecord> = store
        .all_keys()
        .await?
        .into_iter()
        .map(|k| (k.id.clone(), k))
        .collect();
    assert_eq!(&keys, &written.keys);
    for (workspace_id, head) in &written.heads {
        assert_eq!(&store.chain_head(workspace_id).await?, head);
        let report = verify_chain(store.as_ref(), workspace_id).await?;
        assert!(report.valid, "{report:?}");
    }
    Ok(())
}

/// Recomputes a workspace's chain from the genesis, reading it in small ascending pages.
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
async fn all_events(store: &dyn Store, workspace_id: &str) -> Result<Vec<AuditEvent>> {
    let filter = AuditFilter {
        limit: 10_000,
        ..AuditFilter::default()
    };
    Ok(store.events(workspace_id, &filter).await?)
}

/// The story's clock and its model of what the store should hold.
struct Story {
    store: Arc<dyn Store>,
    now: DateTime<Utc>,
    actors: HashMap<String, (String, String)>,
    keys: BTreeMap<String, KeyRecord>,
    expected_len: HashMap<String, i64>,
}

impl Story {
    fn new(store: Arc<dyn Store>) -> Result<Self> {
        // Millisecond precision, like the domain clock.
        let now =
            DateTime::from_timestamp_millis(1_767_225_600_123).context("a valid start time")?;
        Ok(Self {
            store,
            now,
            actors: HashMap::new(),
            keys: BTreeMap::new(),
            expected_len: HashMap::new(),
        })
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.now += Duration::milliseconds(1_001);
        self.now
    }

    fn event(&self, ws: &Workspace, kind: EventKind) -> NewEvent {
        self.event_in(&ws.id, kind)
    }

    /// An event now in the workspace, by its bootstrap root key.
    fn event_in(&self, workspace_id: &str, kind: EventKind) -> NewEvent {
        let event = NewEvent::new(workspace_id, self.now, kind);
        match self.actors.get(workspace_id) {
            Some((id, name)) => event.actor(id, name),
            None => event,
        }
    }

    fn appended(&mut self, ws: &Workspace, n: i64) {
        self.appended_in(&ws.id, n);
    }

    fn appended_in(&mut self, workspace_id: &str, n: i64) {
        *self
            .expected_len
            .entry(workspace_id.to_owned())
            .or_default() += n;
    }

    async fn head_seq(&self, ws: &Workspace) -> Result<i64> {
        Ok(self.store.chain_head(&ws.id).await?.map_or(0, |h| h.seq))
    }

    async fn assert_chain_length(&self, ws: &Workspace) -> Result<()> {
        let expected = self.expected_len.get(&ws.id).copied().unwrap_or(0);
        assert_eq!(
            self.head_seq(ws).await?,
            expected,
            "events recorded in {}",
            ws.name
        );
        Ok(())
    }

    async fn assert_name_taken(
        &self,
        result: Result<(), StoreError>,
        ws: &Workspace,
    ) -> Result<()> {
        assert!(matches!(result, Err(StoreError::NameTaken)), "{result:?}");
        self.assert_chain_length(ws).await
    }

    async fn create_workspace(&mut self, name: &str) -> Result<(Workspace, RootKey)> {
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

    fn key_event(&self, key: &KeyRecord, kind: EventKind) -> NewEvent {
        self.event_in(&key.workspace_id, kind)
            .subject(&key.id, &key.name)
    }

    async fn try_insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.store
            .insert_key(key, self.key_event(key, EventKind::KeyCreated))
            .await
    }

    async fn insert_key(&mut self, key: &KeyRecord) -> Result<()> {
        self.try_insert_key(key).await?;
        self.written(key).await
    }

    async fn try_update_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.store
            .update_key(key, self.key_event(key, EventKind::KeyUpdated))
            .await
    }

    async fn update_key(&mut self, key: &KeyRecord, kind: EventKind) -> Result<()> {
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

    fn filter(&self, owner: Option<&str>, status: Option<KeyStatus>, limit: u32) -> KeyFilter {
        KeyFilter {
            owner_id: owner.map(str::to_owned),
            status,
            now: self.now,
            before_id: None,
            limit,
        }
    }

    /// What `list_keys` should return, judged from the model: newest first.
    fn expected_list(
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
        id: new_id(ids::KEY),
        workspace_id: ws.id.clone(),
        name: name.into(),
        description: Some(format!("{name}, made by the store story")),
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

/// Retention: verification events before the cut go, management events stay, and the chain
/// still verifies from the checkpoint; settings and usage round-trip.
#[tokio::test]
async fn retention_prunes_verifications_and_the_chain_still_verifies() -> Result<()> {
    let (store, workspace, t0) = retention_store().await?;
    // Days 1..=10: a verification each day, and a management event on day 5.
    for day in 1..=10 {
        let at = t0 + Duration::days(day);
        let mut events = vec![NewEvent::new(&workspace.id, at, EventKind::KeyVerified)];
        if day == 5 {
            events.push(NewEvent::new(&workspace.id, at, EventKind::KeyUpdated));
        }
        store.append_events(events).await?;
    }
    let cut = t0 + Duration::days(7);
    let deleted = store
        .prune_events(
            &workspace.id,
            EventKind::KeyVerified,
            cut,
            cut + Duration::days(1),
        )
        .await?;
    assert_eq!(deleted, 6, "verifications of days 1-6");
    let checkpoint = store
        .checkpoint(&workspace.id)
        .await?
        .context("checkpoint")?;
    assert_eq!(checkpoint.retained, 2, "workspace.created and key.updated");
    let report = verify_chain(store.as_ref(), &workspace.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 7, "with the audit.checkpoint event");
    // Pruning again at the same cut changes nothing.
    assert_eq!(
        store
            .prune_events(
                &workspace.id,
                EventKind::KeyVerified,
                cut,
                cut + Duration::days(1)
            )
            .await?,
        0
    );

    let settings = keyward_core::WorkspaceSettings {
        workspace_id: workspace.id.clone(),
        verification_audit: keyward_core::VerificationAudit::Failures,
        audit_retention_days: 30,
    };
    store
        .put_workspace_settings(
            &settings,
            NewEvent::new(&workspace.id, cut, EventKind::WorkspaceUpdated),
        )
        .await?;
    assert_eq!(store.workspace_settings().await?, vec![settings]);

    let usage = keyward_core::KeyUsage {
        key_id: new_id(ids::KEY),
        workspace_id: workspace.id.clone(),
        last_used_at: Some(cut),
        verifications: 42,
    };
    store.record_usage(vec![usage.clone()]).await?;
    store.record_usage(vec![usage.clone()]).await?;
    assert_eq!(store.key_usage().await?, vec![usage]);
    assert!(verify_chain(store.as_ref(), &workspace.id).await?.valid);
    Ok(())
}

/// The cut is the newest event older than `before` by time (one seek down the time index), so
/// an old event appended after it stays until the next run, which takes it; the chain
/// verifies after each run.
#[tokio::test]
async fn retention_takes_an_old_event_appended_after_the_cut_at_the_next_run() -> Result<()> {
    let (store, workspace, t0) = retention_store().await?;
    let cut = t0 + Duration::days(7);
    let verified = |days| {
        NewEvent::new(
            &workspace.id,
            t0 + Duration::days(days),
            EventKind::KeyVerified,
        )
    };
    // seq 2, 3, 4: days 1 and 6, then a straggler stamped on day 3.
    store
        .append_events(vec![verified(1), verified(6), verified(3)])
        .await?;
    let prune = || {
        store.prune_events(
            &workspace.id,
            EventKind::KeyVerified,
            cut,
            cut + Duration::days(1),
        )
    };

    let runs = [
        (2, 3, "days 1 and 6, up to the day-6 event"),
        (1, 4, "the straggler, at the next run"),
    ];
    for (deleted, checkpoint_seq, what) in runs {
        assert_eq!(prune().await?, deleted, "{what}");
        let checkpoint = store
            .checkpoint(&workspace.id)
            .await?
            .context("checkpoint")?;
        assert_eq!(checkpoint.seq, checkpoint_seq, "{what}");
        let report = verify_chain(store.as_ref(), &workspace.id).await?;
        assert!(report.valid, "{what}: {report:?}");
    }
    assert_eq!(prune().await?, 0);
    Ok(())
}

/// Events are appended in about, not exactly, time order: a verification stamped after the
/// cut but appended before the last event older than the cut is not pruned, and the chain
/// still verifies.
#[tokio::test]
async fn retention_keeps_events_newer_than_the_cut_whatever_their_seq() -> Result<()> {
    let (store, workspace, t0) = retention_store().await?;
    let cut = t0 + Duration::days(7);
    let event = |at, kind| NewEvent::new(&workspace.id, at, kind);
    let old = event(t0 + Duration::days(1), EventKind::KeyVerified);
    let late = event(cut + Duration::seconds(1), EventKind::KeyVerified);
    let updated = event(cut - Duration::seconds(1), EventKind::KeyUpdated);
    let late_id = late.id.clone();
    store.append_events(vec![old, late, updated]).await?;

    let deleted = store
        .prune_events(
            &workspace.id,
            EventKind::KeyVerified,
            cut,
            cut + Duration::days(1),
        )
        .await?;
    assert_eq!(deleted, 1, "only the verification older than the cut");
    let kept = all_events(store.as_ref(), &workspace.id).await?;
    assert!(kept.iter().any(|e| e.event.id == late_id), "{kept:?}");
    let checkpoint = store
        .checkpoint(&workspace.id)
        .await?
        .context("checkpoint")?;
    assert_eq!(checkpoint.seq, 4, "the key.updated event");
    assert_eq!(checkpoint.retained, 3, "all but the pruned verification");
    let report = verify_chain(store.as_ref(), &workspace.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 4, "with the audit.checkpoint event");
    Ok(())
}

/// A migrated in-memory store holding one workspace created at the returned time, with one
/// event.
async fn retention_store() -> Result<(Arc<dyn Store>, Workspace, DateTime<Utc>)> {
    let store = memory_store().await?;
    let t0 = DateTime::from_timestamp_millis(1_800_000_000_000).context("time")?;
    let workspace = lone_workspace(store.as_ref(), "Retention", "ret", t0).await?;
    Ok((store, workspace, t0))
}
