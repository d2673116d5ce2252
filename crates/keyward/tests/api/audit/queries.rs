//! Reading the audit trail over HTTP: the seed's "which key deleted the invoice" query,
//! filters by kind, key, outcome and time, pagination by cursor, and the NDJSON export and
//! the chain check across the store's pages.

use crate::audit::router_harness::{assert_valid, harness};
use crate::audit::support::{
    events, events_of, export, field_set, initial_root_key_id, page, seqs, text, verify, IP,
    STRIPE, XERO,
};
use crate::helpers::{spawn_app, unissued_key, Api};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};

/// Every event matching `query`, following `next_cursor` with pages of `limit`; also returns
/// how many pages it took.
async fn events_paged(api: &Api<'_>, query: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("{query}&limit={limit}&cursor={c}"),
            None => format!("{query}&limit={limit}"),
        };
        let body = page(api, &query).await;
        pages += 1;
        let events = events_of(&body);
        assert!(
            events.len() <= limit as usize,
            "page over its limit: {body}"
        );
        all.extend(events);
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (all, pages),
        }
    }
}

#[tokio::test]
async fn the_seeds_scenario_names_the_key_that_deleted_the_invoice() {
    let app = spawn_app();
    let api = app.api();
    let root_id = initial_root_key_id(&api).await;
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["invoices:delete"]).await;
    // Both may delete invoices; only Stripe's integration does, Xero's reads one.
    assert_eq!(
        verify(&api, &xero.key, "invoices:delete", "invoices.read", "INV-2").await,
        "VALID"
    );
    assert_eq!(
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            "INV-1"
        )
        .await,
        "VALID"
    );

    let found = events(&api, "action=invoices.delete").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let event = &found[0];
    assert_eq!(event["kind"], "key.verified");
    assert_eq!(event["key_id"], json!(stripe.id));
    assert_eq!(event["key_name"], STRIPE);
    assert_eq!(event["action"], "invoices.delete");
    assert_eq!(event["resource"], "INV-1");
    assert_eq!(event["outcome"], "VALID");
    assert_eq!(event["ip"], IP);
    assert_eq!(event["actor_id"], json!(root_id));
    assert_eq!(event["actor_name"], "Initial root key");
    assert_eq!(event["workspace_id"], json!(app.workspaces[0].id));
    for hash in ["hash", "prev_hash"] {
        let value = text(event, hash);
        assert_eq!(value.len(), 64, "{hash} is hex SHA-256: {event}");
        assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{event}");
    }
    // The event right before it in the chain is Xero's verification.
    let previous = events(&api, "kind=key.verified").await;
    assert_eq!(previous.len(), 2);
    assert_eq!(previous[1]["key_id"], json!(xero.id));
    assert_eq!(event["prev_hash"], previous[1]["hash"]);
}

#[tokio::test]
async fn queries_filter_by_kind_key_outcome_and_time() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["payroll:write"]).await;
    verify(
        &api,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-1",
    )
    .await;
    assert_eq!(
        verify(
            &api,
            &xero.key,
            "invoices:delete",
            "invoices.delete",
            "INV-2"
        )
        .await,
        "INSUFFICIENT_PERMISSIONS"
    );
    verify(&api, &xero.key, "payroll:write", "payroll.run", "PAY-1").await;
    assert_eq!(
        verify(
            &api,
            &unissued_key("bos"),
            "invoices:delete",
            "invoices.delete",
            "INV-3"
        )
        .await,
        "NOT_FOUND"
    );
    let all = events(&api, "").await;
    // workspace.created, root_key.created, 2 × key.created, 4 × key.verified
    assert_eq!(all.len(), 8, "{all:?}");
    let all_seqs = seqs(&all);
    assert!(
        all_seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {all_seqs:?}"
    );

    let created = events(&api, "kind=key.created").await;
    assert_eq!(
        field_set(&created, "key_id"),
        BTreeSet::from([stripe.id.clone(), xero.id.clone()])
    );
    assert!(created.iter().all(|e| e["outcome"] == "OK"));

    let about_xero = events(&api, &format!("key_id={}", xero.id)).await;
    let kinds: Vec<&str> = about_xero.iter().map(|e| text(e, "kind")).collect();
    assert_eq!(kinds, ["key.verified", "key.verified", "key.created"]);
    assert!(about_xero.iter().all(|e| e["key_id"] == json!(xero.id)));

    let refused = events(&api, "outcome=INSUFFICIENT_PERMISSIONS").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["key_name"], XERO);
    assert_eq!(refused[0]["resource"], "INV-2");
    let unknown = events(&api, "outcome=NOT_FOUND").await;
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        unknown[0]["key_id"],
        Value::Null,
        "an unknown key has no id"
    );
    assert_eq!(unknown[0]["resource"], "INV-3");
    let management = events(&api, "outcome=OK").await;
    assert_eq!(management.len(), 4);
    assert!(management.iter().all(|e| e["kind"] != "key.verified"));

    // Filters combine: Stripe's and Xero's attempts on invoices, of which one was allowed.
    let deletes = events(&api, "action=invoices.delete&kind=key.verified").await;
    assert_eq!(
        field_set(&deletes, "resource"),
        BTreeSet::from(["INV-1".into(), "INV-2".into(), "INV-3".into()])
    );
    let allowed = events(&api, "action=invoices.delete&outcome=VALID").await;
    assert_eq!(
        field_set(&allowed, "resource"),
        BTreeSet::from(["INV-1".into()])
    );
    let xero_allowed = events(&api, &format!("key_id={}&outcome=VALID", xero.id)).await;
    assert_eq!(
        field_set(&xero_allowed, "resource"),
        BTreeSet::from(["PAY-1".into()])
    );

    // since is inclusive, until exclusive; together they split the trail at any instant.
    // Times are RFC 3339 with milliseconds in UTC, so they order as strings.
    let pivot = text(&all[all.len() / 2], "time").to_owned();
    let expected_since: Vec<i64> = seqs(&all)
        .into_iter()
        .zip(&all)
        .filter(|(_, e)| text(e, "time") >= pivot.as_str())
        .map(|(seq, _)| seq)
        .collect();
    let expected_until: Vec<i64> = seqs(&all)
        .into_iter()
        .zip(&all)
        .filter(|(_, e)| text(e, "time") < pivot.as_str())
        .map(|(seq, _)| seq)
        .collect();
    assert!(!expected_since.is_empty());
    assert_eq!(
        seqs(&events(&api, &format!("since={pivot}")).await),
        expected_since
    );
    assert_eq!(
        seqs(&events(&api, &format!("until={pivot}")).await),
        expected_until
    );
    let first = text(&all[all.len() - 1], "time");
    let last = text(&all[0], "time");
    assert!(events(&api, &format!("since={first}&until={first}"))
        .await
        .is_empty());
    assert_eq!(
        events(&api, &format!("since={first}&until=2999-01-01T00:00:00Z"))
            .await
            .len(),
        all.len()
    );
    assert!(events(&api, "since=2999-01-01T00:00:00Z").await.is_empty());
    assert!(events(&api, &format!("until={first}")).await.is_empty());
    // An offset other than Z is the same instant.
    let last_at: DateTime<Utc> = last.parse().expect("an RFC 3339 time");
    let shifted = last_at
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("a valid offset"))
        .to_rfc3339();
    let shifted = shifted.replace('+', "%2B");
    assert_eq!(
        events(&api, &format!("since={shifted}")).await.len(),
        all.iter().filter(|e| text(e, "time") >= last).count()
    );

    for bad in [
        "kind=key.deleted",
        "outcome=MAYBE",
        "limit=0",
        "limit=1001",
        "cursor=abc",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "key=key_1",
    ] {
        api.get(&format!("/v1/audit?{bad}"))
            .await
            .expect_error(400, "bad_request");
        api.get(&format!("/v1/audit/export?{bad}"))
            .await
            .expect_error(400, "bad_request");
    }
}

#[tokio::test]
async fn pages_follow_next_cursor_without_skips_or_repeats() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    for i in 0..24 {
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            &format!("INV-{i}"),
        )
        .await;
    }
    let all = events(&api, "").await;
    assert_eq!(all.len(), 27, "3 management events and 24 verifications");
    for limit in [1, 5, 26, 27, 28] {
        let (paged, pages) = events_paged(&api, "", limit).await;
        assert_eq!(paged, all, "pages of {limit}");
        assert_eq!(
            pages,
            all.len().div_ceil(limit as usize),
            "pages of {limit}"
        );
    }
    // 24 verifications in pages of 6: the fourth page is the last, with no empty fifth.
    let verified = events(&api, "kind=key.verified").await;
    let (paged, pages) = events_paged(&api, "kind=key.verified", 6).await;
    assert_eq!(paged, verified);
    assert_eq!(pages, 4);
    let resources: HashSet<&str> = paged.iter().map(|e| text(e, "resource")).collect();
    assert_eq!(resources.len(), 24, "no event twice");

    // A cursor is a position: events appended meanwhile do not shift the next page.
    let first = page(&api, "limit=10").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    verify(
        &api,
        &stripe.key,
        "invoices:delete",
        "invoices.delete",
        "INV-late",
    )
    .await;
    let second = page(&api, &format!("limit=10&cursor={cursor}")).await;
    assert_eq!(events_of(&second), all[10..20].to_vec());
}

#[tokio::test]
async fn the_export_holds_the_same_events_one_json_object_per_line() {
    let app = spawn_app();
    let api = app.api();
    let stripe = api.new_key(STRIPE, &["invoices:delete"]).await;
    let xero = api.new_key(XERO, &["invoices:delete"]).await;
    for i in 0..5 {
        verify(
            &api,
            &stripe.key,
            "invoices:delete",
            "invoices.delete",
            &format!("INV-{i}"),
        )
        .await;
        verify(
            &api,
            &xero.key,
            "payroll:read",
            "payroll.read",
            &format!("PAY-{i}"),
        )
        .await;
    }
    for query in [
        "".to_owned(),
        "action=invoices.delete".to_owned(),
        "kind=key.created".to_owned(),
        format!("key_id={}", xero.id),
        "outcome=INSUFFICIENT_PERMISSIONS".to_owned(),
        "since=2999-01-01T00:00:00Z".to_owned(),
    ] {
        let listed = events(&api, &query).await;
        assert_eq!(export(&api, &query).await, listed, "export of {query:?}");
    }
    assert_eq!(export(&api, "action=invoices.delete").await.len(), 5);
    assert!(export(&api, "since=2999-01-01T00:00:00Z").await.is_empty());
    // The cursor applies too: the export starts below it.
    let all = events(&api, "").await;
    let cursor = all[3]["seq"].as_i64().expect("a seq");
    assert_eq!(
        export(&api, &format!("cursor={cursor}")).await,
        all[4..].to_vec()
    );
}

#[tokio::test]
async fn export_and_chain_check_cross_storage_pages() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    // 3 management events + 1997 verifications = 2000: exactly two pages of 1000 in storage.
    let verifications = (0..1997).map(|i| {
        let h = &h;
        let key = stripe.clone();
        async move {
            h.verify(&key, "invoices:delete", &format!("INV-{i}"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(verifications).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));

    let export = h.get("/v1/audit/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.content_type, "application/x-ndjson");
    let seqs: Vec<i64> = export
        .text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("a JSON line")["seq"]
                .as_i64()
                .expect("a seq")
        })
        .collect();
    assert_eq!(seqs, (1..=2000).rev().collect::<Vec<i64>>());
    assert_valid(&h.chain().await, 2000, None);

    let first = h.get("/v1/audit?limit=1000").await.expect(200).clone();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second = h
        .get(&format!("/v1/audit?limit=1000&cursor={cursor}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(second["events"].as_array().map(Vec::len), Some(1000));
    assert_eq!(second["next_cursor"], Value::Null);
}
