//! Several nodes on one database: each node is a `PostgresStore` with its own pool, as two
//! `keyward serve` processes are. Appends from both at once form one gap-free chain per
//! workspace, spends from both never grant more than the balance, and both may migrate at
//! once.

use super::{server, unavailable};
use anyhow::{ensure, Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::{CreditOutcome, Credits, EventKind, NewEvent, Restrictions, Store};
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::PostgresStore;
use keyward_storage::Grouped;
use keyward_store_tests::fixtures::{lone_workspace, new_key, verify_chain};
use std::sync::Arc;

/// Two nodes on one scratch database, migrated concurrently; `None` when skipped.
async fn two_nodes(test: &str) -> Result<Option<(ScratchDatabase, [PostgresStore; 2])>> {
    if let Some(why) = unavailable() {
        keyward_store_tests::skip(test, &why)?;
        return Ok(None);
    }
    let db = ScratchDatabase::create(&server().context("a server")?).await?;
    let a = PostgresStore::connect(db.url())?;
    let b = PostgresStore::connect(db.url())?;
    let (ma, mb) = tokio::join!(a.migrate(), b.migrate());
    ma?;
    mb?;
    Ok(Some((db, [a, b])))
}

fn t0() -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")
}

/// Writers per node, and appends per writer.
const WRITERS: usize = 6;
const APPENDS: usize = 40;

/// Two nodes, each with several writers appending verifications (group-committed, as a
/// server does) and management events (keys created) into two workspaces at once: each
/// workspace's chain is whole, gap-free and holds every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_appending_at_once_keep_one_gap_free_chain_per_workspace() -> Result<()> {
    let Some((_db, [a, b])) = two_nodes("two_nodes_appending_at_once").await? else {
        return Ok(());
    };
    let t0 = t0()?;
    let ws1 = lone_workspace(&a, "Nodes One", "na", t0).await?;
    let ws2 = lone_workspace(&b, "Nodes Two", "nb", t0).await?;
    let nodes: Vec<Arc<dyn Store>> = vec![Arc::new(Grouped::new(a)), Arc::new(Grouped::new(b))];
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WRITERS {
            let (node, ws1, ws2) = (node.clone(), ws1.clone(), ws2.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..APPENDS {
                    let at = t0 + Duration::milliseconds(i as i64);
                    let verified = |ws: &keyward_core::Workspace| {
                        NewEvent::new(&ws.id, at, EventKind::KeyVerified)
                            .subject(&format!("key_{n}_{w}_{i}"), "Node Key")
                    };
                    if i % 10 == 0 {
                        let key = new_key(&ws1, &format!("Node {n} Writer {w} Key {i}"), None, at)?;
                        let event = NewEvent::new(&ws1.id, at, EventKind::KeyCreated)
                            .subject(&key.id, &key.name);
                        node.insert_key(&key, event).await?;
                    }
                    // One append spanning both workspaces, in either order.
                    let events = if (n + i) % 2 == 0 {
                        vec![verified(&ws1), verified(&ws2)]
                    } else {
                        vec![verified(&ws2), verified(&ws1)]
                    };
                    node.append_events(events).await?;
                }
                anyhow::Ok(())
            }));
        }
    }
    for task in tasks {
        task.await??;
    }
    let writes = 2 * WRITERS * APPENDS;
    println!(
        "{writes} appends and {} key creations from two nodes in {:?}",
        2 * WRITERS * APPENDS.div_ceil(10),
        started.elapsed()
    );
    let created = (2 * WRITERS * APPENDS.div_ceil(10)) as u64;
    // Each chain: its creation, every verification, and (in ws1) every key created.
    for (ws, expected) in [
        (&ws1, 1 + writes as u64 + created),
        (&ws2, 1 + writes as u64),
    ] {
        for node in &nodes {
            let report = verify_chain(node.as_ref(), &ws.id).await?;
            ensure!(report.valid, "{}: {report:?}", ws.name);
            ensure!(report.events == expected, "{}: {report:?}", ws.name);
            let head = node.chain_head(&ws.id).await?.context("a head")?;
            ensure!(head.seq == expected as i64, "gap-free: {head:?}");
        }
    }
    Ok(())
}

/// Spends fired at one key through two nodes at once: exactly the balance is granted, and
/// both nodes read the same balance after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spends_through_two_nodes_never_grant_more_than_the_balance() -> Result<()> {
    let Some((_db, [a, b])) = two_nodes("spends_through_two_nodes").await? else {
        return Ok(());
    };
    let t0 = t0()?;
    let ws = lone_workspace(&a, "Credits Nodes", "cn", t0).await?;
    let mut key = new_key(&ws, "Metered Across Nodes", None, t0)?;
    key.restrictions = Restrictions {
        credits: Some(Credits::new(25, None, t0)?),
        ..Restrictions::default()
    };
    let event = NewEvent::new(&ws.id, t0, EventKind::KeyCreated).subject(&key.id, &key.name);
    a.insert_key(&key, event).await?;
    let nodes = [Arc::new(a), Arc::new(b)];
    let mut tasks = Vec::new();
    for _ in 0..40 {
        for node in &nodes {
            let (node, ws_id, key_id) = (node.clone(), ws.id.clone(), key.id.clone());
            tasks.push(tokio::spawn(async move {
                node.spend_credits(&ws_id, &key_id, 1, t0).await
            }));
        }
    }
    let mut granted = 0;
    for task in tasks {
        if let Some(CreditOutcome::Spent { .. }) = task.await?? {
            granted += 1;
        }
    }
    ensure!(granted == 25, "granted {granted} of a balance of 25");
    for node in &nodes {
        let stored = node.key(&ws.id, &key.id).await?.context("the key")?;
        let remaining = stored.restrictions.credits.map(|c| c.remaining);
        ensure!(remaining == Some(0), "{remaining:?}");
    }
    Ok(())
}
