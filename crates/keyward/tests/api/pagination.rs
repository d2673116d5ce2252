//! Pagination under concurrent writes: while one task creates keys and verifies them (each
//! verification appends an audit event), another pages through `GET /v1/keys` and
//! `GET /v1/audit` with small pages. No page repeats an item, and every item that existed
//! before paging began is seen exactly once (newer ones may or may not be).

use crate::helpers::{key_ids, spawn_app, Api};
use serde_json::Value;
use std::collections::HashSet;

/// Pages through `path` (`limit=3`), collecting `field` of every item under `items`.
async fn page_through(api: &Api<'_>, path: &str, items: &str, field: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("{path}?limit=3&cursor={c}"),
            None => format!("{path}?limit=3"),
        };
        let answer = api.get(&uri).await;
        let body = answer.expect(200);
        for item in body[items].as_array().unwrap() {
            seen.push(match &item[field] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

fn assert_exactly_once(seen: &[String], before: &[String], what: &str) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a {what} page repeated an item: {seen:?}"
    );
    for item in before {
        assert!(unique.contains(item), "{what} {item} was skipped");
    }
}

#[tokio::test]
async fn pages_never_skip_or_repeat_under_concurrent_inserts() {
    let app = spawn_app();
    let api = app.api();
    let mut keys = Vec::new();
    for i in 0..30 {
        keys.push(api.new_key(&format!("existing {i}"), &["a:b"]).await);
    }
    for round in 0..3 {
        let keys_before = api.list_all_ids("").await;
        let audit_before = page_through(&api, "/v1/audit", "events", "seq").await;
        let writer = async {
            for i in 0..20 {
                let created = api
                    .new_key(&format!("round {round} new {i}"), &["a:b"])
                    .await;
                api.verify_code(&created.key, None).await;
                api.verify_code(&keys[i % keys.len()].key, Some("a:b"))
                    .await;
            }
        };
        let readers = async {
            let listed = page_through(&api, "/v1/keys", "keys", "id").await;
            let events = page_through(&api, "/v1/audit", "events", "seq").await;
            (listed, events)
        };
        let ((), (listed, events)) = tokio::join!(writer, readers);
        assert_exactly_once(&listed, &keys_before, "key");
        assert_exactly_once(&events, &audit_before, "audit event");
        // Newest first, strictly: ids and sequence numbers only go down the pages.
        let seqs: Vec<i64> = events.iter().map(|s| s.parse().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    }
    // And the helper's own paging (limit=100) agrees with one page of all 90 keys at rest.
    let all = api.list_all_ids("").await;
    let first_page = key_ids(api.list_keys("?limit=100").await.expect(200));
    assert_eq!(all, first_page);
}
