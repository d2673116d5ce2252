//! The bulk import (`PostgresStore::import_keys`, what fills a database with a million keys
//! for the benchmarks): every column of every key reads back as written, each key's change
//! is recorded with consecutive numbers, and the events join the chain.

use super::{create, open, unavailable};
use anyhow::{ensure, Context, Result};
use chrono::{DateTime, Utc};
use keyward_core::{
    Credits, EventKind, IpRange, NewEvent, Origin, RateLimit, Refill, Restrictions, Store,
};
use keyward_store_tests::fixtures::{lone_workspace, new_key, verify_chain};

#[tokio::test]
async fn a_bulk_import_stores_every_column_and_records_each_change() -> Result<()> {
    if let Some(why) = unavailable() {
        return keyward_store_tests::skip("a_bulk_import_stores_every_column", &why);
    }
    let db = create().await?;
    let store = open(&db).await?;
    let t0 = DateTime::<Utc>::from_timestamp_millis(1_767_225_600_000).context("a time")?;
    let ws = lone_workspace(&store, "Bulk", "bk", t0).await?;

    let mut plain = new_key(&ws, "plain", None, t0)?;
    plain.imported = true;
    let mut restricted = new_key(&ws, "restricted", Some("team-7"), t0)?;
    restricted.expires_at = Some(t0 + chrono::Duration::days(30));
    restricted.restrictions = Restrictions {
        ip_allowlist: vec![
            IpRange::parse("203.0.113.0/24")?,
            IpRange::parse("2001:db8::/32")?,
        ],
        origin_allowlist: vec![Origin::parse("https://*.example.com")?],
        credits: Some(Credits::new(40, Some(Refill::new(100, 3600)?), t0)?),
        rate_limit: Some(RateLimit {
            limit: 12,
            window_seconds: 60,
        }),
    };
    let mut revoked = new_key(&ws, "revoked", None, t0)?;
    revoked.enabled = false;
    revoked.revoked_at = Some(t0);
    revoked.revoked_reason = Some("left the company".into());
    let keys = vec![plain, restricted, revoked];
    let events: Vec<NewEvent> = keys
        .iter()
        .map(|k| NewEvent::new(&ws.id, t0, EventKind::KeyCreated).subject(&k.id, &k.name))
        .collect();

    let before = store.last_change_seq().await?;
    store.import_keys(&keys, events).await?;

    for key in &keys {
        let stored = store
            .key(&ws.id, &key.id)
            .await?
            .context("an imported key")?;
        ensure!(&stored == key, "{} reads back as written", key.name);
    }
    let changes = store.changes_since(before, 100).await?;
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let expected: Vec<i64> = (before + 1..=before + 3).collect();
    ensure!(seqs == expected, "consecutive change numbers: {seqs:?}");
    let ids: Vec<&str> = changes.iter().map(|c| c.id.as_str()).collect();
    let key_ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    ensure!(ids == key_ids, "one change per key, in order");
    ensure!(store.last_change_seq().await? == before + 3);

    let report = verify_chain(&store, &ws.id).await?;
    ensure!(report.valid, "{report:?}");
    Ok(())
}
