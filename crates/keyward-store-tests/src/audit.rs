//! Chapter 3, audit chain and retention: every workspace has its own hash chain, linked
//! event to event from the genesis and whole after batches of any size and concurrent
//! writers; a batch is all or nothing; reads are newest first and every filter selects
//! exactly what it says; retention prunes verifications behind a checkpoint and the chain
//! still verifies; the events retention keeps read alone, by range.

use crate::fixtures::{all_events, ascending, fresh, lone_workspace, new_key, verify_chain, Story};
use crate::Engine;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::audit::GENESIS_HASH;
use keyward_core::{
    AuditEvent, AuditFilter, EventKind, EventOutcome, KeyRecord, NewEvent, RootKey, Store,
    StoreError, VerifyCode, Workspace,
};
use std::sync::Arc;

/// Two workspaces whose logs hold every kind of entry the filters look at.
struct Log {
    story: Story,
    acme: Workspace,
    globex: Workspace,
    acme_root: RootKey,
    /// A key of acme's with exactly one event, its creation.
    reports: KeyRecord,
}

/// A verification event in `ws` with every optional field set; the `n`th of a batch.
fn verification(story: &Story, ws: &Workspace, n: usize, subject: &KeyRecord) -> NewEvent {
    let mut event = story.event(ws, EventKind::KeyVerified);
    event.action = Some(
        if n.is_multiple_of(2) {
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
    if ws.id == subject.workspace_id {
        event = event.subject(&subject.id, &subject.name);
    }
    event
}

/// Five verifications alternating between `acme` and `globex` (three and two), in one
/// append.
async fn verifications_of_both(
    story: &mut Story,
    acme: &Workspace,
    globex: &Workspace,
    subject: &KeyRecord,
) -> Result<()> {
    let mut batch = Vec::new();
    for (n, ws) in [acme, globex, acme, acme, globex].into_iter().enumerate() {
        story.appended(ws, 1);
        batch.push(verification(story, ws, n, subject));
    }
    story.store.append_events(batch).await?;
    Ok(())
}

/// Keys created, updated, revoked and rotated in acme, one in globex, then verifications of
/// both in one append.
async fn busy_log(store: Arc<dyn Store>) -> Result<Log> {
    let mut story = Story::new(store)?;
    let (acme, acme_root) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    let mut billing = story
        .add_key(&acme, "Billing Service", Some("user_1"))
        .await?;
    story.add_key(&globex, "Billing Service", None).await?;
    let mut revoked = story
        .add_key(&acme, "Reports Exporter", Some("user_2"))
        .await?;
    revoked.revoked_at = Some(story.tick());
    revoked.updated_at = story.now;
    story.update_key(&revoked, EventKind::KeyRevoked).await?;
    let reports = story
        .add_key(&acme, "reports exporter", Some("user_2"))
        .await?;
    billing.enabled = false;
    billing.updated_at = story.tick();
    story.update_key(&billing, EventKind::KeyUpdated).await?;
    let (_, new_billing) = story.rotate(&acme, &billing).await?;
    story.tick();
    verifications_of_both(&mut story, &acme, &globex, &new_billing).await?;
    Ok(Log {
        story,
        acme,
        globex,
        acme_root,
        reports,
    })
}

pub async fn verifications_of_two_workspaces_in_one_append_extend_two_chains<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    let subject = story.add_key(&acme, "Billing Service", None).await?;
    let before = (story.head_seq(&acme).await?, story.head_seq(&globex).await?);
    verifications_of_both(&mut story, &acme, &globex, &subject).await?;
    store.append_events(Vec::new()).await?;
    assert_eq!(story.head_seq(&acme).await?, before.0 + 3);
    assert_eq!(story.head_seq(&globex).await?, before.1 + 2);
    for ws in [&acme, &globex] {
        assert!(verify_chain(store.as_ref(), &ws.id).await?.valid);
    }
    Ok(())
}

/// A batch of 1,201 events interleaving two chains (larger than an engine would write in
/// one statement) is written in order and chained.
pub async fn a_large_batch_of_two_workspaces_is_written_in_order_and_chained<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
    let before = (story.head_seq(&acme).await?, story.head_seq(&globex).await?);
    let mut big = Vec::new();
    for n in 0..1201_u32 {
        let ws = if n.is_multiple_of(3) { &globex } else { &acme };
        story.appended(ws, 1);
        big.push(story.event(ws, EventKind::KeyVerified));
    }
    store.append_events(big).await?;
    assert_eq!(story.head_seq(&acme).await?, before.0 + 800);
    assert_eq!(story.head_seq(&globex).await?, before.1 + 401);
    for ws in [&acme, &globex] {
        let report = verify_chain(store.as_ref(), &ws.id).await?;
        assert!(report.valid, "{report:?}");
        assert_eq!(report.events as i64, story.expected_len(ws));
    }
    Ok(())
}

/// Concurrent appends and key inserts queue rather than fail, and both chains stay whole.
pub async fn concurrent_writers_queue_and_the_chains_stay_whole<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (acme, _) = story.create_workspace("acme").await?;
    let (globex, _) = story.create_workspace("globex").await?;
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
    for ws in [&acme, &globex] {
        story.assert_chain_length(ws).await?;
        let report = verify_chain(store.as_ref(), &ws.id).await?;
        assert!(report.valid, "{report:?}");
        assert_eq!(Some(report.events as i64), Some(story.expected_len(ws)));
    }
    let all = store.all_keys().await?;
    assert_eq!(
        all.iter().collect::<Vec<_>>(),
        story.keys.values().collect::<Vec<_>>()
    );
    Ok(())
}

/// Concurrent appends of one event each (which a store may commit together) each answer
/// once their event is in the chain, and the chain holds every one exactly once.
pub async fn concurrent_single_appends_all_land_in_one_chain<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t0 = DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")?;
    let ws = lone_workspace(store.as_ref(), "Grouped", "grp", t0).await?;
    let appends: Vec<_> = (0..200)
        .map(|n| {
            let store = store.clone();
            let mut event = NewEvent::new(&ws.id, t0, EventKind::KeyVerified);
            event.outcome = "VALID".into();
            event.detail = Some(format!("append {n}"));
            tokio::spawn(async move { store.append_events(vec![event]).await })
        })
        .collect();
    for append in appends {
        append.await??;
    }
    let report = verify_chain(store.as_ref(), &ws.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 201, "the workspace event and every append");
    Ok(())
}

/// The log reads newest first, each event linked to the one before it and the first to the
/// genesis, and only the workspace's own events.
pub async fn the_log_reads_newest_first_each_event_linked_to_the_one_before<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let log = busy_log(store.clone()).await?;
    for ws in [&log.acme, &log.globex] {
        log.story.assert_chain_length(ws).await?;
        let report = verify_chain(store.as_ref(), &ws.id).await?;
        assert!(report.valid, "{report:?}");
        assert_eq!(Some(report.events as i64), Some(log.story.expected_len(ws)));
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
    Ok(())
}

pub async fn a_workspaces_first_event_is_its_creation_by_its_bootstrap_root_key<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let log = busy_log(store.clone()).await?;
    let acme_events = all_events(store.as_ref(), &log.acme.id).await?;
    let first = acme_events.last().context("acme has events")?;
    assert_eq!(first.event.kind, EventKind::WorkspaceCreated.as_str());
    assert_eq!(
        first.event.actor_id.as_deref(),
        Some(log.acme_root.id.as_str())
    );
    Ok(())
}

/// Which events an audit filter should select.
type Wanted = Box<dyn Fn(&AuditEvent) -> bool>;

pub async fn each_audit_filter_selects_exactly_what_it_says<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let log = busy_log(store.clone()).await?;
    let acme_events = all_events(store.as_ref(), &log.acme.id).await?;
    let middle_time = acme_events[acme_events.len() / 2].event.time;
    let middle_seq = acme_events[acme_events.len() / 2].seq;
    let reports_id = log.reports.id.clone();
    let filters: Vec<(AuditFilter, Wanted)> = vec![
        (
            AuditFilter {
                key_id: Some(reports_id.clone()),
                ..AuditFilter::default()
            },
            Box::new(move |e: &AuditEvent| e.event.key_id.as_deref() == Some(reports_id.as_str())),
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
        let found = store.events(&log.acme.id, &filter).await?;
        assert_eq!(found.iter().collect::<Vec<_>>(), expected, "{filter:?}");
    }
    Ok(())
}

pub async fn a_limit_keeps_the_newest_events<E: Engine>(engine: &E) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let log = busy_log(store.clone()).await?;
    let acme_events = all_events(store.as_ref(), &log.acme.id).await?;
    let two = store
        .events(
            &log.acme.id,
            &AuditFilter {
                limit: 2,
                ..AuditFilter::default()
            },
        )
        .await?;
    assert_eq!(two.as_slice(), &acme_events[..2]);
    Ok(())
}

/// Appending a batch is all or nothing: a batch with one event the store refuses (an empty
/// id) leaves no event of the batch behind, the chain continues from where it was, and
/// nothing the store learnt from the failed batch (e.g. names it interned) is kept.
pub async fn a_batch_with_a_refused_event_leaves_nothing_and_the_chain_continues<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let t0 = DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")?;
    let ws = lone_workspace(store.as_ref(), "Batches", "bt", t0).await?;
    let at = |n: i64| t0 + Duration::milliseconds(n);
    let event = |n: i64| {
        NewEvent::new(&ws.id, at(n), EventKind::KeyVerified)
            .subject(&format!("key_{n:04}"), &format!("Key {n}"))
    };

    // 300 events with the refused one near the end: an engine writing a batch in several
    // statements has written some of them when it fails (SQLite: statements of 256, 16, 16,
    // 4, 4 and 4 rows, the refused row in the third).
    let mut batch: Vec<NewEvent> = (1..=300).map(event).collect();
    batch[280].id = String::new();
    assert!(store.append_events(batch).await.is_err());

    let events = store.events_ascending(&ws.id, 0, 1000).await?;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, ["workspace.created"], "nothing of the failed batch");

    // Had the store kept what the failed batch taught it (SQLite: the ids of the names it
    // interned, given back by the rollback), events 1 and 2 below would read back with the
    // names of 301 and 302.
    store
        .append_events((301..=303).chain(1..=2).map(event).collect())
        .await?;
    let events = store.events_ascending(&ws.id, 0, 1000).await?;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        [1, 2, 3, 4, 5, 6],
        "the chain continues from its old head"
    );
    let keys: Vec<Option<&str>> = events.iter().map(|e| e.event.key_id.as_deref()).collect();
    assert_eq!(
        keys,
        [
            None,
            Some("key_0301"),
            Some("key_0302"),
            Some("key_0303"),
            Some("key_0001"),
            Some("key_0002")
        ]
    );
    assert_eq!(events[4].event.key_name.as_deref(), Some("Key 1"));
    let report = verify_chain(store.as_ref(), &ws.id).await?;
    assert!(report.valid, "{report:?}");
    Ok(())
}

/// A store holding one workspace created at the returned time, with one event.
/// `kept_events` reads every event but the verifications in its seq range, ascending, the
/// first `limit` of them, before and after retention pruned verifications around them.
pub async fn kept_events_are_every_event_but_verifications_in_their_range<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let (workspace, t0) = retention_workspace(store.as_ref()).await?;
    let kinds = [
        EventKind::KeyVerified,
        EventKind::KeyCreated,
        EventKind::KeyVerified,
        EventKind::KeyVerified,
        EventKind::KeyUpdated,
        EventKind::KeyRevoked,
    ];
    for day in 1..=30 {
        let kind = kinds[usize::try_from(day).context("day")? % kinds.len()];
        store
            .append_events(vec![NewEvent::new(
                &workspace.id,
                t0 + Duration::days(day),
                kind,
            )])
            .await?;
    }
    let check = |after: i64, through: i64, limit: u32| {
        let store = store.clone();
        let workspace_id = workspace.id.clone();
        async move {
            let expected: Vec<AuditEvent> = ascending(store.as_ref(), &workspace_id)
                .await?
                .into_iter()
                .filter(|e| e.seq > after && e.seq <= through)
                .filter(|e| e.event.kind != EventKind::KeyVerified.as_str())
                .take(limit as usize)
                .collect();
            let kept = store
                .kept_events(&workspace_id, after, through, limit)
                .await?;
            ensure_eq(&kept, &expected, after, through, limit)
        }
    };
    let head = store.chain_head(&workspace.id).await?.context("head")?.seq;
    check(0, head, 1000).await?;
    check(4, 20, 1000).await?;
    check(0, head, 3).await?;
    check(7, 7, 1000).await?;
    check(head, head + 10, 1000).await?;
    let cut = t0 + Duration::days(20);
    store
        .prune_events(&workspace.id, EventKind::KeyVerified, cut, cut)
        .await?;
    check(0, head + 1, 1000).await?;
    check(2, 25, 4).await?;
    Ok(())
}

fn ensure_eq(
    kept: &[AuditEvent],
    expected: &[AuditEvent],
    after: i64,
    through: i64,
    limit: u32,
) -> Result<()> {
    let seqs = |events: &[AuditEvent]| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    anyhow::ensure!(
        kept == expected,
        "kept_events({after}, {through}, {limit}): {:?}, expected {:?}",
        seqs(kept),
        seqs(expected)
    );
    Ok(())
}

async fn retention_workspace(store: &dyn Store) -> Result<(Workspace, DateTime<Utc>)> {
    let t0 = DateTime::from_timestamp_millis(1_800_000_000_000).context("time")?;
    let workspace = lone_workspace(store, "Retention", "ret", t0).await?;
    Ok((workspace, t0))
}

/// Verification events before the cut go, management events stay, and the chain still
/// verifies from the checkpoint; pruning again at the same cut changes nothing.
pub async fn retention_prunes_verifications_and_the_chain_still_verifies<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let (workspace, t0) = retention_workspace(store.as_ref()).await?;
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
    let prune = || {
        store.prune_events(
            &workspace.id,
            EventKind::KeyVerified,
            cut,
            cut + Duration::days(1),
        )
    };
    assert_eq!(prune().await?, 6, "verifications of days 1-6");
    let checkpoint = store
        .checkpoint(&workspace.id)
        .await?
        .context("checkpoint")?;
    assert_eq!(checkpoint.retained, 2, "workspace.created and key.updated");
    let report = verify_chain(store.as_ref(), &workspace.id).await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 7, "with the audit.checkpoint event");
    assert_eq!(prune().await?, 0, "pruning again at the same cut");
    assert!(verify_chain(store.as_ref(), &workspace.id).await?.valid);
    Ok(())
}

/// The cut is the newest event older than `before` by time, so an old event appended after
/// it stays until the next run, which takes it; the chain verifies after each run.
pub async fn retention_takes_an_old_event_appended_after_the_cut_at_the_next_run<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let (workspace, t0) = retention_workspace(store.as_ref()).await?;
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
pub async fn retention_keeps_events_newer_than_the_cut_whatever_their_seq<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let (workspace, t0) = retention_workspace(store.as_ref()).await?;
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
