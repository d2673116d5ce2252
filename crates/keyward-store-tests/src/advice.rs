//! Chapter 9, the safety advice: a workspace's settings (written with their event), what was
//! observed of its keys' use, its list of items read worst first in pages, and dismissals
//! (written with their event, taking the item off the list); all scoped by workspace.

use crate::fixtures::{fresh, verify_chain, Story};
use crate::Engine;
use anyhow::Result;
use chrono::{DateTime, Utc};
use keyward_core::advice::{
    AdviceCode, AdviceCursor, AdviceItem, AdviceSettings, Dismissal, KeyAdvice, KeyObservations,
    Severity, Sighting,
};
use keyward_core::{EventKind, PermissionQuery, Store};
use serde_json::json;

fn listed(
    ws: &str,
    key: &str,
    code: AdviceCode,
    severity: Severity,
    at: DateTime<Utc>,
) -> KeyAdvice {
    let mut evidence = serde_json::Map::new();
    evidence.insert("networks".into(), json!(7));
    evidence.insert("recent_networks".into(), json!(["203.0.113.0/24"]));
    KeyAdvice {
        workspace_id: ws.into(),
        key_id: key.into(),
        key_name: format!("{key} integration"),
        item: AdviceItem {
            code,
            severity,
            message: format!("{} of {key}", code.as_str()),
            since: at,
            evidence,
            fingerprint: format!("{key}-{}", code.as_str()),
        },
    }
}

fn ids(list: &[KeyAdvice]) -> Vec<(String, AdviceCode)> {
    list.iter()
        .map(|a| (a.key_id.clone(), a.item.code))
        .collect()
}

pub async fn advice_settings_read_back_as_written_with_their_event_chained<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, _) = story.create_workspace("acme").await?;
    let (other, _) = story.create_workspace("other").await?;
    assert_eq!(store.advice_settings(&ws.id).await?, None);
    let settings = AdviceSettings {
        auto_disable_days: Some(365),
        recommend_expiry: true,
        generic_names: vec!["backend".into()],
        ..AdviceSettings::default()
    };
    story.tick();
    let event = story.event(&ws, EventKind::AdviceSettingsUpdated);
    store.set_advice_settings(&ws.id, &settings, event).await?;
    story.appended(&ws, 1);
    assert_eq!(store.advice_settings(&ws.id).await?, Some(settings.clone()));
    assert_eq!(store.advice_settings(&other.id).await?, None);
    let changed = AdviceSettings {
        auto_disable_days: None,
        ..settings
    };
    let event = story.event(&ws, EventKind::AdviceSettingsUpdated);
    store.set_advice_settings(&ws.id, &changed, event).await?;
    story.appended(&ws, 1);
    assert_eq!(store.advice_settings(&ws.id).await?, Some(changed));
    story.assert_chain_length(&ws).await?;
    assert!(verify_chain(store.as_ref(), &ws.id).await?.valid);
    Ok(())
}

pub async fn observations_read_back_by_key_and_replace_what_was_there<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, _) = story.create_workspace("acme").await?;
    let (other, _) = story.create_workspace("other").await?;
    let now = story.tick();
    let mut a = KeyObservations::new(&ws.id, "key_a");
    let required = PermissionQuery::parse("invoices:read AND invoices:write")?;
    a.record(&Sighting::new(
        now,
        Some("203.0.113.9"),
        Some("https://shop.example"),
        Some("billing/2.1"),
        Some(required),
    ));
    let b = KeyObservations::new(&ws.id, "key_b");
    let elsewhere = KeyObservations::new(&other.id, "key_a");
    store
        .put_key_observations(&[a.clone(), b.clone(), elsewhere])
        .await?;
    let wanted = ["key_a".to_owned(), "key_b".to_owned(), "key_c".to_owned()];
    let mut read = store.key_observations(&ws.id, &wanted).await?;
    read.sort_by(|x, y| x.key_id.cmp(&y.key_id));
    assert_eq!(read, vec![a.clone(), b]);
    // A second write replaces the first.
    a.record(&Sighting::new(now, Some("2001:db8::1"), None, None, None));
    store.put_key_observations(std::slice::from_ref(&a)).await?;
    let read = store.key_observations(&ws.id, &wanted[..1]).await?;
    assert_eq!(read, vec![a]);
    assert_eq!(read[0].networks.len(), 2);
    // Another workspace's observations of a key with the same id are its own.
    let theirs = store.key_observations(&other.id, &wanted).await?;
    assert_eq!(theirs.len(), 1);
    assert!(theirs[0].networks.is_empty());
    Ok(())
}

pub async fn the_advice_list_reads_worst_first_in_pages_and_a_replace_drops_old_items<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, _) = story.create_workspace("acme").await?;
    let (other, _) = story.create_workspace("other").await?;
    let now = story.tick();
    let items = vec![
        listed(&ws.id, "key_b", AdviceCode::Stale, Severity::Warning, now),
        listed(
            &ws.id,
            "key_a",
            AdviceCode::GenericName,
            Severity::Info,
            now,
        ),
        listed(&ws.id, "key_c", AdviceCode::Leaked, Severity::Critical, now),
        listed(
            &ws.id,
            "key_a",
            AdviceCode::SharedKey,
            Severity::Warning,
            now,
        ),
        listed(&ws.id, "key_a", AdviceCode::Stale, Severity::Warning, now),
    ];
    let keys: Vec<String> = ["key_a", "key_b", "key_c"].map(String::from).into();
    store.replace_advice(&ws.id, &keys, &items).await?;
    store
        .replace_advice(
            &other.id,
            &keys[..1],
            &[listed(
                &other.id,
                "key_a",
                AdviceCode::Leaked,
                Severity::Critical,
                now,
            )],
        )
        .await?;
    let all = store.advice(&ws.id, None, 100).await?;
    assert_eq!(
        ids(&all),
        vec![
            ("key_c".into(), AdviceCode::Leaked),
            ("key_a".into(), AdviceCode::SharedKey),
            ("key_a".into(), AdviceCode::Stale),
            ("key_b".into(), AdviceCode::Stale),
            ("key_a".into(), AdviceCode::GenericName),
        ]
    );
    let c = all.iter().find(|a| a.key_id == "key_c");
    assert_eq!(
        c,
        items.iter().find(|a| a.key_id == "key_c"),
        "reads back as written"
    );
    // Pages of two, each starting after the last one's end, repeat and skip nothing.
    let mut paged = Vec::new();
    let mut after: Option<AdviceCursor> = None;
    loop {
        let page = store.advice(&ws.id, after.as_ref(), 2).await?;
        let Some(last) = page.last() else { break };
        after = Some(AdviceCursor {
            severity: last.item.severity,
            key_id: last.key_id.clone(),
            code: last.item.code,
        });
        paged.extend(page);
    }
    assert_eq!(ids(&paged), ids(&all));
    // Replacing key_a's items with one drops the others; key_b and key_c are untouched.
    store
        .replace_advice(
            &ws.id,
            &keys[..1],
            &[listed(
                &ws.id,
                "key_a",
                AdviceCode::Imported,
                Severity::Warning,
                now,
            )],
        )
        .await?;
    let all = store.advice(&ws.id, None, 100).await?;
    assert_eq!(
        ids(&all),
        vec![
            ("key_c".into(), AdviceCode::Leaked),
            ("key_a".into(), AdviceCode::Imported),
            ("key_b".into(), AdviceCode::Stale),
        ]
    );
    assert_eq!(store.advice(&other.id, None, 100).await?.len(), 1);
    Ok(())
}

pub async fn a_dismissal_reads_back_takes_the_item_off_the_list_and_is_chained<E: Engine>(
    engine: &E,
) -> Result<()> {
    let (_db, store) = fresh(engine).await?;
    let mut story = Story::new(store.clone())?;
    let (ws, root) = story.create_workspace("acme").await?;
    let (other, _) = story.create_workspace("other").await?;
    let now = story.tick();
    let keys = vec!["key_a".to_owned()];
    let items = [
        listed(&ws.id, "key_a", AdviceCode::Stale, Severity::Warning, now),
        listed(
            &ws.id,
            "key_a",
            AdviceCode::GenericName,
            Severity::Info,
            now,
        ),
    ];
    store.replace_advice(&ws.id, &keys, &items).await?;
    let mut dismissal = Dismissal {
        workspace_id: ws.id.clone(),
        key_id: "key_a".into(),
        code: AdviceCode::Stale,
        fingerprint: "first".into(),
        dismissed_by: root.id.clone(),
        dismissed_at: now,
    };
    let event = story.event(&ws, EventKind::AdviceDismissed);
    store.dismiss_advice(&dismissal, event).await?;
    story.appended(&ws, 1);
    assert_eq!(
        store.advice_dismissals(&ws.id, &keys).await?,
        vec![dismissal.clone()]
    );
    assert!(store.advice_dismissals(&other.id, &keys).await?.is_empty());
    let left = store.advice(&ws.id, None, 10).await?;
    assert_eq!(ids(&left), vec![("key_a".into(), AdviceCode::GenericName)]);
    // Dismissed again with new evidence: one dismissal, the newest.
    dismissal.fingerprint = "second".into();
    dismissal.dismissed_at = story.tick();
    let event = story.event(&ws, EventKind::AdviceDismissed);
    store.dismiss_advice(&dismissal, event).await?;
    story.appended(&ws, 1);
    assert_eq!(
        store.advice_dismissals(&ws.id, &keys).await?,
        vec![dismissal]
    );
    story.assert_chain_length(&ws).await?;
    assert!(verify_chain(store.as_ref(), &ws.id).await?.valid);
    Ok(())
}
