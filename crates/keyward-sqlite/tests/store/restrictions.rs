//! The Store's restrictions and limits on SQLite: allowlists, credits and rate limits round-trip;
//! spending is atomic under concurrency (group-committed, each spend answered for its own key)
//! and durable across a reopen; `update_key` never writes back a stale balance; the workspace
//! policy is stored per workspace.

use anyhow::Result;
use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_core::ids::{self, new_id};
use keyward_core::{
    CreditOutcome, Credits, EventKind, IpRange, KeyHash, KeyRecord, NewEvent, Origin, RateLimit,
    Refill, Restrictions, Store, StoreError, Workspace, WorkspacePolicy,
};
use keyward_sqlite::SqliteStore;
use std::sync::Arc;

use crate::{lone_workspace, memory_store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

async fn workspace(store: &dyn Store) -> Result<Workspace> {
    lone_workspace(store, "Restrictions", "bos", t0()).await
}

fn key(ws: &Workspace, restrictions: Restrictions) -> KeyRecord {
    let id = new_id(ids::KEY);
    KeyRecord {
        name: format!("Integration {id}"),
        id,
        workspace_id: ws.id.clone(),
        description: None,
        owner_id: None,
        hash: KeyHash::of(&new_id("secret")),
        start: "bos_abcd".into(),
        permissions: vec![],
        enabled: true,
        expires_at: None,
        metadata: Default::default(),
        created_at: t0(),
        updated_at: t0(),
        revoked_at: None,
        revoked_reason: None,
        replaced_by: None,
        restrictions,
    }
}

fn event(k: &KeyRecord) -> NewEvent {
    NewEvent::new(&k.workspace_id, t0(), EventKind::KeyCreated).subject(&k.id, &k.name)
}

#[tokio::test]
async fn restrictions_round_trip() -> Result<()> {
    let store = memory_store().await?;
    let ws = workspace(store.as_ref()).await?;
    let full = Restrictions {
        ip_allowlist: vec![
            IpRange::parse("10.0.0.0/8")?,
            IpRange::parse("2001:db8::/32")?,
        ],
        origin_allowlist: vec![Origin::parse("https://app.example.com")?],
        credits: Some(Credits::new(7, Some(Refill::new(10, 3600)?), t0())?),
        rate_limit: Some(RateLimit::new(5, 60)?),
    };
    let k = key(&ws, full.clone());
    store.insert_key(&k, event(&k)).await?;
    let back = store.key(&ws.id, &k.id).await?;
    assert_eq!(back.as_ref().map(|k| &k.restrictions), Some(&full));
    let bare = key(&ws, Restrictions::default());
    store.insert_key(&bare, event(&bare)).await?;
    let back = store.key(&ws.id, &bare.id).await?;
    assert_eq!(back.map(|k| k.restrictions), Some(Restrictions::default()));
    assert_eq!(store.spend_credits(&ws.id, &bare.id, 1, t0()).await?, None);
    assert_eq!(
        store.spend_credits(&ws.id, "key_missing", 1, t0()).await?,
        None
    );
    Ok(())
}

/// A migrated store in a temporary file, as itself (to close it) and as a `Store`.
struct FileStore {
    _dir: tempfile::TempDir,
    url: String,
    sqlite: SqliteStore,
    store: Arc<dyn Store>,
}

async fn file_store() -> Result<FileStore> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let sqlite = SqliteStore::connect(&url).await?;
    sqlite.migrate().await?;
    Ok(FileStore {
        _dir: dir,
        url,
        store: Arc::new(sqlite.clone()),
        sqlite,
    })
}

/// Restrictions with a balance of `n` credits and no refill.
fn with_credits(n: u64) -> Result<Restrictions> {
    Ok(Restrictions {
        credits: Some(Credits::new(n, None, t0())?),
        ..Restrictions::default()
    })
}

/// A key's balance as stored.
async fn remaining(store: &dyn Store, ws_id: &str, key_id: &str) -> Result<Option<u64>> {
    let stored = store.key(ws_id, key_id).await?;
    Ok(stored
        .and_then(|k| k.restrictions.credits)
        .map(|c| c.remaining))
}

/// Spends one credit of each of `key_ids`, `rounds` times, all at once; every answer with the
/// key it was for.
async fn spend_concurrently(
    store: &Arc<dyn Store>,
    ws_id: &str,
    key_ids: &[String],
    rounds: usize,
) -> Result<Vec<(String, Result<Option<CreditOutcome>, StoreError>)>> {
    let mut tasks = Vec::new();
    for _ in 0..rounds {
        for key_id in key_ids {
            let (store, ws_id, key_id) = (store.clone(), ws_id.to_owned(), key_id.clone());
            tasks.push(tokio::spawn(async move {
                let outcome = store.spend_credits(&ws_id, &key_id, 1, t0()).await;
                (key_id, outcome)
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await?);
    }
    Ok(answers)
}

#[tokio::test]
async fn concurrent_spends_never_double_spend_and_survive_a_reopen() -> Result<()> {
    let FileStore {
        _dir,
        url,
        sqlite,
        store,
    } = file_store().await?;
    let ws = workspace(store.as_ref()).await?;
    let k = key(&ws, with_credits(10)?);
    store.insert_key(&k, event(&k)).await?;
    let mut spent = 0;
    let answers = spend_concurrently(&store, &ws.id, std::slice::from_ref(&k.id), 50).await?;
    for (_, outcome) in answers {
        if let Some(CreditOutcome::Spent { .. }) = outcome? {
            spent += 1;
        }
    }
    assert_eq!(spent, 10);
    sqlite.close().await;
    let reopened = SqliteStore::connect(&url).await?;
    assert_eq!(remaining(&reopened, &ws.id, &k.id).await?, Some(0));
    Ok(())
}

/// Spends are group-committed: concurrent spends of several keys, of keys without credits and
/// of missing keys share transactions, and each still gets its own key's answer.
#[tokio::test]
async fn spends_committed_together_each_get_their_own_keys_answer() -> Result<()> {
    let store = memory_store().await?;
    let ws = workspace(store.as_ref()).await?;
    let mut keys = Vec::new();
    for balance in [3, 5, 8] {
        let k = key(&ws, with_credits(balance)?);
        store.insert_key(&k, event(&k)).await?;
        keys.push((k.id, balance));
    }
    let bare = key(&ws, Restrictions::default());
    store.insert_key(&bare, event(&bare)).await?;
    keys.push((bare.id, 0));
    keys.push(("key_missing".into(), 0));

    let key_ids: Vec<String> = keys.iter().map(|(id, _)| id.clone()).collect();
    let mut spent: std::collections::HashMap<String, u64> = Default::default();
    let mut none = 0;
    for (key_id, outcome) in spend_concurrently(&store, &ws.id, &key_ids, 10).await? {
        match outcome? {
            Some(CreditOutcome::Spent { .. }) => *spent.entry(key_id).or_default() += 1,
            Some(CreditOutcome::Exceeded { remaining }) => assert_eq!(remaining, 0),
            None => none += 1,
        }
    }
    assert_eq!(
        none, 20,
        "the key without credits and the missing key, ten times each"
    );
    for (key_id, balance) in &keys[..3] {
        assert_eq!(spent.get(key_id), Some(balance), "{key_id}");
        assert_eq!(remaining(store.as_ref(), &ws.id, key_id).await?, Some(0));
    }
    Ok(())
}

/// A key whose stored credits cannot be read (no refill anchor) fails its own spends only:
/// the spends of other keys committed in the same batches all go through.
#[tokio::test]
async fn an_unreadable_balance_fails_only_its_own_spends() -> Result<()> {
    use sqlx::Connection;
    let FileStore {
        _dir, url, store, ..
    } = file_store().await?;
    let ws = workspace(store.as_ref()).await?;
    let (healthy, broken) = (key(&ws, with_credits(20)?), key(&ws, with_credits(20)?));
    for k in [&healthy, &broken] {
        store.insert_key(k, event(k)).await?;
    }
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("UPDATE keys SET credits_refilled_at = NULL WHERE id = ?")
        .bind(&broken.id)
        .execute(&mut conn)
        .await?;
    conn.close().await?;

    let (mut spent, mut corrupt) = (0, 0);
    let key_ids = [healthy.id.clone(), broken.id.clone()];
    for answer in spend_concurrently(&store, &ws.id, &key_ids, 20).await? {
        match answer {
            (id, Ok(Some(CreditOutcome::Spent { .. }))) if id == healthy.id => spent += 1,
            (id, Err(StoreError::Corrupt(_))) if id == broken.id => corrupt += 1,
            (id, other) => anyhow::bail!("{id}: unexpected {other:?}"),
        }
    }
    assert_eq!((spent, corrupt), (20, 20));
    assert_eq!(
        remaining(store.as_ref(), &ws.id, &healthy.id).await?,
        Some(0)
    );
    Ok(())
}

#[tokio::test]
async fn refill_is_applied_atomically_with_the_spend() -> Result<()> {
    let store = memory_store().await?;
    let ws = workspace(store.as_ref()).await?;
    let k = key(
        &ws,
        Restrictions {
            credits: Some(Credits::new(1, Some(Refill::new(3, 60)?), t0())?),
            ..Restrictions::default()
        },
    );
    store.insert_key(&k, event(&k)).await?;
    let spend = |at: DateTime<Utc>| {
        let (store, ws_id, key_id) = (store.clone(), ws.id.clone(), k.id.clone());
        async move { store.spend_credits(&ws_id, &key_id, 1, at).await }
    };
    assert_eq!(
        spend(t0()).await?,
        Some(CreditOutcome::Spent { remaining: 0 })
    );
    assert_eq!(
        spend(t0() + Duration::seconds(59)).await?,
        Some(CreditOutcome::Exceeded { remaining: 0 })
    );
    assert_eq!(
        spend(t0() + Duration::seconds(60)).await?,
        Some(CreditOutcome::Spent { remaining: 2 })
    );
    // 3.5 intervals later: reset to 3 at the 3rd boundary after the last anchor.
    assert_eq!(
        spend(t0() + Duration::seconds(60 + 210)).await?,
        Some(CreditOutcome::Spent { remaining: 2 })
    );
    let stored = store
        .key(&ws.id, &k.id)
        .await?
        .and_then(|k| k.restrictions.credits);
    assert_eq!(
        stored.map(|c| c.refilled_at),
        Some(t0() + Duration::seconds(240))
    );
    Ok(())
}

#[tokio::test]
async fn update_key_keeps_the_balance_and_update_key_and_credits_replaces_it() -> Result<()> {
    let store = memory_store().await?;
    let ws = workspace(store.as_ref()).await?;
    let mut k = key(
        &ws,
        Restrictions {
            credits: Some(Credits::new(5, None, t0())?),
            ..Restrictions::default()
        },
    );
    store.insert_key(&k, event(&k)).await?;
    // A verification spends after the handler read the key...
    store.spend_credits(&ws.id, &k.id, 2, t0()).await?;
    // ...and the handler then writes its (stale) copy with another field changed.
    k.description = Some("changed".into());
    k.restrictions.rate_limit = Some(RateLimit::new(9, 9)?);
    store.update_key(&k, event(&k)).await?;
    let back = store.key(&ws.id, &k.id).await?;
    assert_eq!(
        back.as_ref()
            .and_then(|k| k.restrictions.credits)
            .map(|c| c.remaining),
        Some(3)
    );
    assert_eq!(
        back.as_ref().and_then(|k| k.restrictions.rate_limit),
        Some(RateLimit::new(9, 9)?)
    );
    k.restrictions.credits = None;
    store.update_key_and_credits(&k, event(&k)).await?;
    let back = store.key(&ws.id, &k.id).await?;
    assert_eq!(back.and_then(|k| k.restrictions.credits), None);
    let unknown = KeyRecord {
        id: new_id(ids::KEY),
        ..k.clone()
    };
    let result = store
        .update_key_and_credits(&unknown, event(&unknown))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    Ok(())
}

#[tokio::test]
async fn policies_are_per_workspace() -> Result<()> {
    let store = memory_store().await?;
    let a = workspace(store.as_ref()).await?;
    let b = workspace(store.as_ref()).await?;
    assert_eq!(
        store.workspace_policy(&a.id).await?,
        WorkspacePolicy::default()
    );
    let policy = WorkspacePolicy::new(Some(86_400))?;
    let ev = NewEvent::new(&a.id, t0(), EventKind::PolicyUpdated);
    store.set_workspace_policy(&a.id, &policy, ev).await?;
    assert_eq!(store.workspace_policy(&a.id).await?, policy);
    assert_eq!(
        store.workspace_policy(&b.id).await?,
        WorkspacePolicy::default()
    );
    let cleared = WorkspacePolicy::default();
    let ev = NewEvent::new(&a.id, t0(), EventKind::PolicyUpdated);
    store.set_workspace_policy(&a.id, &cleared, ev).await?;
    assert_eq!(store.workspace_policy(&a.id).await?, cleared);
    Ok(())
}
