//! Appending a batch of audit events is all or nothing: the multi-row `INSERT`s run without a
//! statement journal (`INSERT OR FAIL`), so a row that fails must still leave no event of its
//! batch behind, the chain must continue from where it was, and the audit names the batch
//! interned must be forgotten with it.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::{EventKind, NewEvent};

use crate::story::verify_chain;
use crate::{lone_workspace, memory_store};

fn at(t0: DateTime<Utc>, n: i64) -> DateTime<Utc> {
    t0 + Duration::milliseconds(n)
}

#[tokio::test]
async fn a_batch_with_a_failing_row_leaves_no_event_and_the_chain_continues() -> Result<()> {
    let store = memory_store().await?;
    let t0 = DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")?;
    let ws = lone_workspace(&*store, "Batches", "bt", t0).await?;
    let event = |n: i64| {
        NewEvent::new(&ws.id, at(t0, n), EventKind::KeyVerified)
            .subject(&format!("key_{n:04}"), &format!("Key {n}"))
    };

    // 300 events are written by statements of 256, 16, 16, 4, 4 and 4 rows; the one that
    // fails (an empty event id, refused by the table's CHECK) is in the third statement,
    // after two whole statements and part of the third have been inserted.
    let mut batch: Vec<NewEvent> = (1..=300).map(event).collect();
    batch[280].id = String::new();
    assert!(store.append_events(batch).await.is_err());

    let events = store.events_ascending(&ws.id, 0, 1000).await?;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, ["workspace.created"], "nothing of the failed batch");

    // The failed batch interned its key ids and names, and the rollback gave those ids back:
    // new names now take them. Had the store remembered the failed batch's ids, events 1 and
    // 2 below would read back with the names of 301 and 302.
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
    let report = verify_chain(&*store, &ws.id).await?;
    assert!(report.valid, "{report:?}");
    Ok(())
}
