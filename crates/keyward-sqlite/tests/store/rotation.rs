//! Rotation and credits on SQLite: the replacement takes the balance as stored when the
//! rotation commits, and a spend on the rotated key draws from its replacement's.

use anyhow::Result;
use chrono::{DateTime, TimeZone, Utc};
use keyward_core::ids::{self, new_id};
use keyward_core::{CreditOutcome, Credits, EventKind, KeyHash, KeyRecord, NewEvent, Restrictions};

use crate::{lone_workspace, memory_store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn credited_key(workspace_id: &str, name: &str, remaining: u64) -> Result<KeyRecord> {
    Ok(KeyRecord {
        id: new_id(ids::KEY),
        workspace_id: workspace_id.to_owned(),
        name: name.to_owned(),
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
        restrictions: Restrictions {
            credits: Some(Credits::new(remaining, None, t0())?),
            ..Restrictions::default()
        },
    })
}

#[tokio::test]
async fn a_rotated_key_and_its_replacement_spend_one_balance_never_a_stale_copy() -> Result<()> {
    let store = memory_store().await?;
    let ws = lone_workspace(store.as_ref(), "Rotation", "bos", t0()).await?;
    let old = credited_key(&ws.id, "Credited Export", 5)?;
    let created = NewEvent::new(&ws.id, t0(), EventKind::KeyCreated).subject(&old.id, &old.name);
    store.insert_key(&old, created).await?;
    // The rotation was prepared from this read; a spend commits before the rotation does.
    let read = store.key(&ws.id, &old.id).await?.expect("the key");
    assert_eq!(
        store.spend_credits(&ws.id, &old.id, 2, t0()).await?,
        Some(CreditOutcome::Spent { remaining: 3 })
    );
    let mut new = credited_key(&ws.id, "Credited Export", 0)?;
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
