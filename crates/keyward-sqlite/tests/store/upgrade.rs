//! Upgrading a database written before migration 0006 (audit events with their texts in every
//! row) keeps every event exactly as it was: same fields, same hashes, a chain that still
//! verifies and continues, filters that still find the events, and tampering that is still
//! found where it was. Also: a tampered chain head does not stop the store.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use keyward_core::audit::GENESIS_HASH;
use keyward_core::{AuditEvent, AuditFilter, EventKind, EventOutcome, NewEvent, Store, VerifyCode};
use keyward_sqlite::SqliteStore;
use sqlx::migrate::Migrator;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;

use crate::story::verify_chain;

/// The migrations up to and including `version`, copied to `into`: the schema an older
/// keyward left.
pub async fn migrations_through(version: i64, into: &Path) -> Result<Migrator> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    std::fs::create_dir_all(into)?;
    for entry in std::fs::read_dir(source)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("a file name")?;
        let number: i64 = name.split('_').next().context("a number")?.parse()?;
        if number <= version {
            std::fs::copy(&path, into.join(name))?;
        }
    }
    Ok(Migrator::new(into).await?)
}

/// Writes `events` as the schema of migration 0005 stored them, chained, with their head.
pub async fn write_old_chain(
    db: &mut SqliteConnection,
    events: Vec<NewEvent>,
) -> Result<Vec<AuditEvent>> {
    let mut chained: Vec<AuditEvent> = Vec::new();
    for event in events {
        let (prev_seq, prev_hash) = chained
            .last()
            .map_or((0, GENESIS_HASH.to_owned()), |e| (e.seq, e.hash.clone()));
        let stored = AuditEvent::chain(event, prev_seq, &prev_hash);
        let e = &stored.event;
        sqlx::query(
            "INSERT INTO audit_events (workspace_id, seq, id, time, kind, actor_id, actor_name, \
             key_id, key_name, action, resource, outcome, ip, origin, user_agent, detail, \
             prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.workspace_id)
        .bind(stored.seq)
        .bind(&e.id)
        .bind(e.time.timestamp_millis())
        .bind(&e.kind)
        .bind(&e.actor_id)
        .bind(&e.actor_name)
        .bind(&e.key_id)
        .bind(&e.key_name)
        .bind(&e.action)
        .bind(&e.resource)
        .bind(&e.outcome)
        .bind(&e.ip)
        .bind(&e.origin)
        .bind(&e.user_agent)
        .bind(&e.detail)
        .bind(&stored.prev_hash)
        .bind(&stored.hash)
        .execute(&mut *db)
        .await?;
        chained.push(stored);
    }
    let head = chained.last().context("a chain of at least one event")?;
    sqlx::query("INSERT INTO audit_heads (workspace_id, seq, hash) VALUES (?, ?, ?)")
        .bind(&head.event.workspace_id)
        .bind(head.seq)
        .bind(&head.hash)
        .execute(&mut *db)
        .await?;
    Ok(chained)
}

/// A workspace's history as an older keyward recorded it: management events, verifications
/// with every optional field, a key renamed between two verifications, and a name that is
/// only digits (an interned name is text, never a number).
fn history(workspace_id: &str, t0: DateTime<Utc>) -> Vec<NewEvent> {
    let at = |n: i64| t0 + Duration::milliseconds(n);
    let verified = |n: i64, name: &str, outcome: &str| {
        let mut e = NewEvent::new(workspace_id, at(n), EventKind::KeyVerified)
            .actor("rk_gateway", "gateway")
            .subject("key_stripe", name);
        e.action = Some("invoices.delete".into());
        e.resource = Some(format!("INV-{n}"));
        e.outcome = outcome.into();
        e.ip = Some("203.0.113.7".into());
        e.origin = Some("https://app.example".into());
        e.user_agent = Some("billing/2.1".into());
        e
    };
    vec![
        NewEvent::new(workspace_id, at(0), EventKind::WorkspaceCreated),
        NewEvent::new(workspace_id, at(1), EventKind::KeyCreated)
            .actor("rk_bootstrap", "bootstrap")
            .subject("key_stripe", "Stripe sync"),
        verified(2, "Stripe sync", "VALID"),
        NewEvent::new(workspace_id, at(3), EventKind::KeyUpdated)
            .actor("rk_bootstrap", "bootstrap")
            .subject("key_stripe", "12345")
            .detail("renamed"),
        verified(4, "12345", "INSUFFICIENT_PERMISSIONS"),
        verified(5, "12345", "VALID"),
    ]
}

fn url(db: &Path) -> String {
    format!("sqlite:{}", db.display())
}

#[tokio::test]
async fn events_written_before_the_lean_schema_read_back_unchanged() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("old.db");
    let t0 = DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")?;

    let mut conn = SqliteConnection::connect(&format!("{}?mode=rwc", url(&db))).await?;
    let older = migrations_through(5, &dir.path().join("migrations")).await?;
    assert_eq!(older.iter().count(), 5);
    older.run(&mut conn).await?;
    let kept = write_old_chain(&mut conn, history("ws_kept", t0)).await?;
    // Tampered workspaces: each edit must still be found where it was after the upgrade.
    // Text that is not hex as a hash; the first event's prev_hash as text that is not hex
    // (which must not become the genesis hash); a hash with its letters made upper case
    // (which must not become the true hash again).
    let tampered = write_old_chain(&mut conn, history("ws_tampered", t0)).await?;
    for (workspace, edit) in [
        ("ws_tampered", "SET hash = 'not hex' WHERE seq = 3"),
        ("ws_first", "SET prev_hash = 'zz' WHERE seq = 1"),
        ("ws_upper", "SET hash = upper(hash) WHERE seq = 2"),
    ] {
        if workspace != "ws_tampered" {
            write_old_chain(&mut conn, history(workspace, t0)).await?;
        }
        let sql = format!("UPDATE audit_events {edit} AND workspace_id = ?");
        let done = sqlx::query(&sql).bind(workspace).execute(&mut conn).await?;
        assert_eq!(done.rows_affected(), 1, "{sql}");
    }
    conn.close().await?;

    let store = SqliteStore::connect(&url(&db)).await?;
    store.migrate().await?;

    let read = store.events_ascending("ws_kept", 0, 100).await?;
    assert_eq!(read, kept, "every field and hash as it was");
    let report = verify_chain(&store, "ws_kept").await?;
    assert!(report.valid, "{report:?}");

    // Filters find the upgraded events by their texts.
    let find = |filter: AuditFilter| {
        let store = &store;
        async move {
            let filter = AuditFilter {
                limit: 100,
                ..filter
            };
            store.events("ws_kept", &filter).await
        }
    };
    let by_key = find(AuditFilter {
        key_id: Some("key_stripe".into()),
        outcome: Some(EventOutcome::Verify(VerifyCode::Valid)),
        ..AuditFilter::default()
    })
    .await?;
    assert_eq!(
        by_key.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [6, 3],
        "newest first"
    );
    let by_kind = find(AuditFilter {
        kind: Some(EventKind::KeyUpdated),
        ..AuditFilter::default()
    })
    .await?;
    assert_eq!(by_kind.len(), 1);
    assert_eq!(by_kind[0].event.key_name.as_deref(), Some("12345"));
    let unknown = find(AuditFilter {
        action: Some("payroll.write".into()),
        ..AuditFilter::default()
    })
    .await?;
    assert!(
        unknown.is_empty(),
        "an action never recorded matches nothing"
    );

    // The chain continues after the upgraded events.
    let more = history("ws_kept", t0 + Duration::seconds(1)).split_off(2);
    store.append_events(more).await?;
    let report = verify_chain(&store, "ws_kept").await?;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 10);

    // Each tampered event is still found where it was.
    for (workspace, seq) in [("ws_tampered", 3), ("ws_first", 1), ("ws_upper", 2)] {
        let report = verify_chain(&store, workspace).await?;
        assert!(!report.valid, "{workspace}");
        assert_eq!(report.first_bad_seq, Some(seq), "{workspace}: {report:?}");
    }
    let untouched = store.events_ascending("ws_tampered", 0, 2).await?;
    assert_eq!(untouched, tampered[..2]);
    store.close().await;
    Ok(())
}

/// A chain head that was tampered with (a hash that is not a hash, not even text, the row
/// deleted, its seq moved back) neither stops appending, which would stop the audit trail and
/// every verification with it, nor goes unnoticed: the next event follows the newest stored
/// one and links to a marker, and the chain check reports the break there.
#[tokio::test]
async fn a_tampered_head_breaks_the_chain_visibly_but_not_the_store() -> Result<()> {
    let t0 = DateTime::from_timestamp_millis(1_767_225_600_000).context("a valid time")?;
    for tampering in [
        "UPDATE audit_heads SET hash = 'garbage'",
        "UPDATE audit_heads SET hash = randomblob(32)",
        "DELETE FROM audit_heads",
        "UPDATE audit_heads SET seq = 1",
    ] {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("head.db");
        let store = SqliteStore::connect(&url(&db)).await?;
        store.migrate().await?;
        let events = history("ws_head", t0);
        store.append_events(events[..3].to_vec()).await?;
        store.close().await;

        let mut conn = SqliteConnection::connect(&url(&db)).await?;
        sqlx::query(tampering).execute(&mut conn).await?;
        conn.close().await?;

        let store = SqliteStore::connect(&url(&db)).await?;
        store.append_events(events[3..].to_vec()).await?;
        let stored = store.events_ascending("ws_head", 0, 100).await?;
        let seqs: Vec<i64> = stored.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            [1, 2, 3, 4, 5, 6],
            "{tampering}: every event appended"
        );
        let report = verify_chain(&store, "ws_head").await?;
        assert!(!report.valid, "{tampering}");
        assert_eq!(report.first_bad_seq, Some(4), "{tampering}: {report:?}");
        store.close().await;
    }
    Ok(())
}
