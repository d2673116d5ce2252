//! Chapter 2, restrictions and credits: allowlists, credits and rate limits round-trip;
//! spending is atomic under concurrency, each spend answered for its own key, and durable
//! across a reopen; refills apply with the spend; an update never writes back a stale
//! balance; a rotated key shares its replacement's balance; a spend recorded with its event
//! keeps both, the event's outcome the spend's; the workspace policy is stored.

use crate::fixtures::{fresh, lone_workspace, reopen};
use crate::Engine;
use anyhow::Result;
use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_core::ids::{self, new_id};
use keyward_core::{
    CreditOutcome, Credits, EventKind, IpRange, KeyHash, KeyRecord, NewEvent, Origin, RateLimit,
    RecordedSpend, Refill, Restrictions, Store, StoreError, Workspace, WorkspacePolicy,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The time every record of this chapter is written at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A workspace of its own, created at [`t0`].
pub async fn workspace(store: &dyn Store) -> Result<Workspace> {
    lone_workspace(store, "Restrictions", "bos", t0()).await
}

/// A key of `ws` with `restrictions` and nothing else set.
pub fn key(ws: &Workspace, restrictions: Restrictions) -> KeyRecord {
    let id = new_id(ids::KEY);
    KeyRecord {
        imported: false,
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

/// The `key.created` event of `k`.
pub fn event(k: &KeyRecord) -> NewEvent {
    NewEvent::new(&k.workspace_id, t0(), EventKind::KeyCreated).subject(&k.id, &k.name)
}

/// Restrictions with a balance of `n` credits and no refill.
pub fn with_credits(n: u64) -> Result<Restrictions> {
    Ok(Restrictions {
        credits: Some(Credits::new(n, None, t0())?),
        ..Restrictions::default()
    })
}

/// A key's balance as stored.
pub async fn remaining(store: &dyn Store, ws_id: &str, key_id: &str) -> Result<Option<u64>> {
    let stored = store.key(ws_id, key_id).await?;
    Ok(stored
        .and_then(|k| k.restrictions.credits)
        .map(|c| c.remaining))
}

/// What each concurrent spend answered, with the key it was for.
pub type Answers = Vec<(String, Result<Option<CreditOutcome>, StoreError>)>;

/// Spends one credit of each of `key_ids`, `rounds` times, all at once; every answer with the
/// key it was for.
pub async fn spend_concurrently(
    store: &Arc<dyn Store>,
    ws_id: &str,
    key_ids: &[String],
    rounds: usize,
) -> Result<Answers> {
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

pub async fn restrictions_read_back_as_written<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
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
    Ok(())
}

pub async fn a_key_without_credits_and_a_missing_key_spend_nothing<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let ws = workspace(store.as_ref()).await?;
    let bare = key(&ws, Restrictions::default());
    store.insert_key(&bare, event(&bare)).await?;
    assert_eq!(store.spend_credits(&ws.id, &bare.id, 1, t0()).await?, None);
    assert_eq!(
        store.spend_credits(&ws.id, "key_missing", 1, t0()).await?,
        None
    );
    Ok(())
}

pub async fn concurrent_spends_never_double_spend_and_survive_a_reopen<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let ws = workspace(store.as_ref()).await?;
    let k = key(&ws, with_credits(10)?);
    store.insert_key(&k, event(&k)).await?;
    let mut spent = 0;
    let shared: Arc<dyn Store> = store.clone();
    let answers = spend_concurrently(&shared, &ws.id, std::slice::from_ref(&k.id), 50).await?;
    drop(shared);
    for (_, outcome) in answers {
        if let Some(CreditOutcome::Spent { .. }) = outcome? {
            spent += 1;
        }
    }
    assert_eq!(spent, 10);
    let reopened = reopen(engine, &db, store).await?;
    assert_eq!(remaining(reopened.as_ref(), &ws.id, &k.id).await?, Some(0));
    Ok(())
}

/// Concurrent spends of several keys, of keys without credits and of missing keys may be
/// committed together; each still gets its own key's answer.
pub async fn spends_committed_together_each_get_their_own_keys_answer<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
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
    let mut spent: HashMap<String, u64> = HashMap::new();
    let mut none = 0;
    let shared: Arc<dyn Store> = store.clone();
    for (key_id, outcome) in spend_concurrently(&shared, &ws.id, &key_ids, 10).await? {
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

pub async fn a_refill_is_applied_atomically_with_the_spend<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
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

/// `update_key` writing a copy read before a spend keeps the balance the spend left, and
/// changes the other fields.
pub async fn an_update_never_writes_back_a_stale_balance<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let ws = workspace(store.as_ref()).await?;
    let mut k = key(&ws, with_credits(5)?);
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
    Ok(())
}

pub async fn update_key_and_credits_replaces_the_balance<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let ws = workspace(store.as_ref()).await?;
    let mut k = key(&ws, with_credits(5)?);
    store.insert_key(&k, event(&k)).await?;
    store.spend_credits(&ws.id, &k.id, 2, t0()).await?;
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

/// The replacement takes the balance as stored when the rotation commits (not as the
/// rotation read it), and a spend on the rotated key draws from its replacement's.
pub async fn a_rotated_key_and_its_replacement_spend_one_balance_never_a_stale_copy<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let ws = lone_workspace(store.as_ref(), "Rotation", "bos", t0()).await?;
    let mut old = key(&ws, with_credits(5)?);
    old.name = "Credited Export".into();
    store.insert_key(&old, event(&old)).await?;
    // The rotation was prepared from this read; a spend commits before the rotation does.
    let read = store.key(&ws.id, &old.id).await?;
    let Some(read) = read else {
        anyhow::bail!("the key reads back")
    };
    assert_eq!(
        store.spend_credits(&ws.id, &old.id, 2, t0()).await?,
        Some(CreditOutcome::Spent { remaining: 3 })
    );
    let mut new = key(&ws, with_credits(0)?);
    new.name = "Credited Export".into();
    new.restrictions = read.restrictions.clone();
    let mut rotated = read;
    rotated.replaced_by = Some(new.id.clone());
    let event = NewEvent::new(&ws.id, t0(), EventKind::KeyRotated).subject(&old.id, &old.name);
    store.rotate_key(&rotated, &new, event).await?;
    // The replacement holds what was left, and the old key spends from it.
    assert_eq!(
        store.spend_credits(&ws.id, &old.id, 1, t0()).await?,
        Some(CreditOutcome::Spent { remaining: 2 })
    );
    assert_eq!(
        store.spend_credits(&ws.id, &new.id, 2, t0()).await?,
        Some(CreditOutcome::Spent { remaining: 0 })
    );
    assert_eq!(
        store.spend_credits(&ws.id, &old.id, 1, t0()).await?,
        Some(CreditOutcome::Exceeded { remaining: 0 })
    );
    Ok(())
}

/// A workspace's policy is the default until set, reads back as set, and can be cleared.
pub async fn a_policy_is_stored_and_cleared<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let a = workspace(store.as_ref()).await?;
    assert_eq!(
        store.workspace_policy(&a.id).await?,
        WorkspacePolicy::default()
    );
    let policy = WorkspacePolicy::new(Some(86_400))?;
    let ev = NewEvent::new(&a.id, t0(), EventKind::PolicyUpdated);
    store.set_workspace_policy(&a.id, &policy, ev).await?;
    assert_eq!(store.workspace_policy(&a.id).await?, policy);
    let cleared = WorkspacePolicy::default();
    let ev = NewEvent::new(&a.id, t0(), EventKind::PolicyUpdated);
    store.set_workspace_policy(&a.id, &cleared, ev).await?;
    assert_eq!(store.workspace_policy(&a.id).await?, cleared);
    Ok(())
}

/// A verification of `k` at `t0`, as recorded when its spend is granted.
fn verified(k: &KeyRecord) -> NewEvent {
    let mut event = NewEvent::new(&k.workspace_id, t0(), EventKind::KeyVerified)
        .actor("root_credits", "bootstrap")
        .subject(&k.id, &k.name);
    "VALID".clone_into(&mut event.outcome);
    event
}

/// Spends recorded with their events (`spend_and_record`), concurrently and beyond the
/// balance: every granted spend has a `VALID` event, every refused one a `USAGE_EXCEEDED`
/// event, the balance is what the granted spends left, and all of it survives a reopen with
/// the chain intact.
pub async fn a_spend_and_its_event_are_recorded_together_whatever_the_outcome<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (db, store) = fresh(engine).await?;
    let ws = workspace(store.as_ref()).await?;
    let k = key(&ws, with_credits(3)?);
    store.insert_key(&k, event(&k)).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, spend) = (
            store.clone(),
            RecordedSpend {
                workspace_id: ws.id.clone(),
                key_id: k.id.clone(),
                cost: 1,
                now: t0(),
                event: verified(&k),
            },
        );
        tasks.spawn(async move { store.spend_and_record(spend).await });
    }
    let mut granted = 0;
    while let Some(answer) = tasks.join_next().await {
        match answer?? {
            Some(CreditOutcome::Spent { .. }) => granted += 1,
            Some(CreditOutcome::Exceeded { remaining: 0 }) => {}
            other => anyhow::bail!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(granted, 3);
    // A key that does not exist spends nothing; its verification is recorded all the same.
    let missing = RecordedSpend {
        key_id: "key_missing".into(),
        ..RecordedSpend {
            workspace_id: ws.id.clone(),
            key_id: String::new(),
            cost: 1,
            now: t0(),
            event: verified(&k),
        }
    };
    assert_eq!(store.spend_and_record(missing).await?, None);

    let store = reopen(engine, &db, store).await?;
    assert_eq!(remaining(store.as_ref(), &ws.id, &k.id).await?, Some(0));
    let outcomes: Vec<String> = crate::fixtures::ascending(store.as_ref(), &ws.id)
        .await?
        .into_iter()
        .filter(|e| e.event.kind == "key.verified")
        .map(|e| e.event.outcome)
        .collect();
    let count = |o: &str| outcomes.iter().filter(|x| *x == o).count();
    assert_eq!(
        (count("VALID"), count("USAGE_EXCEEDED")),
        (3 + 1, 5),
        "one event per spend, its outcome the spend's: {outcomes:?}"
    );
    let report = crate::fixtures::verify_chain(store.as_ref(), &ws.id).await?;
    assert!(report.valid, "{report:?}");
    Ok(())
}
