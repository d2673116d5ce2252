//! Audit levels per action, in process with a `ManualClock`: reads aggregated per minute,
//! deletes recorded one by one (and found by key), actions no rule names at the workspace's
//! default level, and rules the server refuses with a clear `400`.

use crate::audit::router_harness::{harness, Harness};
use crate::audit::support::STRIPE;
use chrono::Duration;
use serde_json::{json, Value};

async fn verify(h: &Harness, key: &str, permission: &str, action: &str, ip: &str) -> String {
    h.post(
        "/v1/verify",
        &json!({"key": key, "permission": permission, "action": action, "ip": ip}),
    )
    .await
    .expect(200)["code"]
        .as_str()
        .expect("a code")
        .to_owned()
}

/// `(key_id, outcome, ip) → count` of the aggregate events in `events`, each checked to be
/// of `minute`.
fn counts(events: &[Value], minute: &str) -> Vec<Count> {
    let out: Vec<_> = events
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "key.verified", "{e}");
            let detail: Value = serde_json::from_str(e["detail"].as_str().expect("a detail"))
                .expect("the detail is JSON");
            assert_eq!(detail["minute"], minute, "{e}");
            (
                e["key_id"].clone(),
                e["outcome"].as_str().expect("an outcome").to_owned(),
                e["ip"].clone(),
                detail["count"].as_u64().expect("a count"),
            )
        })
        .collect();
    sorted(out)
}

type Count = (Value, String, Value, u64);

fn sorted(mut counts: Vec<Count>) -> Vec<Count> {
    counts.sort_by_key(|(key, outcome, ip, _)| (key.to_string(), outcome.clone(), ip.to_string()));
    counts
}

#[tokio::test]
async fn reads_are_aggregated_per_minute_and_deletes_are_recorded_one_by_one() {
    let h = harness().await;
    let (stripe_id, stripe) = h
        .new_key(STRIPE, &["invoices:read", "invoices:delete"])
        .await;
    let rules = json!([
        {"pattern": "invoices.delete", "level": "all"},
        {"pattern": "*.read", "level": "aggregate"},
    ]);
    let settings = h
        .patch(
            "/v1/workspace",
            &json!({"verification_audit": "none", "audit_rules": rules}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(settings["audit_rules"], rules);
    assert_eq!(
        h.get("/v1/workspace").await.expect(200)["audit_rules"],
        rules
    );
    let changed = h.events("kind=workspace.updated").await;
    assert_eq!(
        changed[0]["detail"],
        "verification_audit=none, audit_retention_days=90, \
         audit_rules=invoices.delete:all; *.read:aggregate"
    );
    let events_before = h.events("").await.len();

    // 09:00:10 — seven reads from one /24, one from another, two of an unknown key.
    h.clock.advance(Duration::seconds(10));
    for i in 0..7 {
        let ip = format!("203.0.113.{}", 10 + i);
        assert_eq!(
            verify(&h, &stripe, "invoices:read", "invoices.read", &ip).await,
            "VALID"
        );
    }
    verify(
        &h,
        &stripe,
        "invoices:read",
        "payments.read",
        "198.51.100.4",
    )
    .await;
    let unknown = crate::helpers::unissued_key("bos");
    for _ in 0..2 {
        assert_eq!(
            verify(
                &h,
                &unknown,
                "invoices:read",
                "invoices.read",
                "203.0.113.1"
            )
            .await,
            "NOT_FOUND"
        );
    }
    // The delete is its own event, durable before the answer; an action no rule names
    // takes the workspace's default (`none`).
    assert_eq!(
        verify(
            &h,
            &stripe,
            "invoices:delete",
            "invoices.delete",
            "192.0.2.9"
        )
        .await,
        "VALID"
    );
    verify(&h, &stripe, "invoices:read", "payroll.export", "192.0.2.9").await;
    let deletes = h
        .events(&format!("key_id={stripe_id}&action=invoices.delete"))
        .await;
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0]["ip"], "192.0.2.9");
    assert_eq!(deletes[0]["detail"], Value::Null);
    assert_eq!(h.events("").await.len(), events_before + 1);

    // The minute is still open: nothing of it is written yet.
    assert_eq!(h.state.flush_aggregates(false).await.expect("flushing"), 0);
    assert_eq!(h.state.aggregates().pending(), 10);

    // 09:01:00 — the minute ended; its counts become chained events.
    h.clock.advance(Duration::seconds(50));
    assert_eq!(h.state.flush_aggregates(false).await.expect("flushing"), 3);
    assert_eq!(h.state.aggregates().pending(), 0);
    let minute = "2026-01-01T09:00:00.000Z";
    let reads = h.events("action=invoices.read").await;
    assert_eq!(
        counts(&reads, minute),
        sorted(vec![
            (json!(stripe_id), "VALID".into(), json!("203.0.113.0/24"), 7),
            (Value::Null, "NOT_FOUND".into(), json!("203.0.113.0/24"), 2),
        ])
    );
    let payments = h.events("action=payments.read").await;
    assert_eq!(
        counts(&payments, minute),
        [(
            json!(stripe_id),
            "VALID".to_owned(),
            json!("198.51.100.0/24"),
            1
        )]
    );
    // Who deleted the invoices stays answerable by key, among its aggregated reads.
    let by_key = h.events(&format!("key_id={stripe_id}")).await;
    let actions: Vec<_> = by_key.iter().map(|e| e["action"].clone()).collect();
    assert!(actions.contains(&json!("invoices.delete")), "{actions:?}");
    assert_eq!(h.events("").await.len(), events_before + 1 + 3);
    let check = h.chain().await;
    assert_eq!(check["valid"], json!(true), "{check}");

    // A graceful stop writes the open minute too.
    verify(&h, &stripe, "invoices:read", "invoices.read", "203.0.113.1").await;
    assert_eq!(h.state.flush_aggregates(true).await.expect("flushing"), 1);
    let newest = &h.events("action=invoices.read").await[0];
    assert_eq!(
        newest["detail"],
        r#"{"count":1,"minute":"2026-01-01T09:01:00.000Z"}"#
    );
}

#[tokio::test]
async fn aggregated_counts_survive_a_failed_write_and_are_written_once() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:read"]).await;
    h.patch("/v1/workspace", &json!({"verification_audit": "aggregate"}))
        .await
        .expect(200);
    for _ in 0..3 {
        verify(&h, &stripe, "invoices:read", "invoices.read", "203.0.113.1").await;
    }
    h.clock.advance(Duration::minutes(1));
    h.fault.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(h.state.flush_aggregates(false).await.is_err());
    h.fault.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(h.state.aggregates().pending(), 3);
    assert_eq!(h.state.flush_aggregates(false).await.expect("flushing"), 1);
    let reads = h.events("action=invoices.read").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(
        reads[0]["detail"],
        r#"{"count":3,"minute":"2026-01-01T09:00:00.000Z"}"#
    );
}

#[tokio::test]
async fn bad_audit_rules_are_refused_with_a_clear_400_and_change_nothing() {
    let h = harness().await;
    let before = h.get("/v1/workspace").await.expect(200).clone();
    let rule = |pattern: &str, level: &str| json!({"pattern": pattern, "level": level});
    let too_many: Vec<Value> = (0..33).map(|i| rule(&format!("a{i}"), "all")).collect();
    let key = crate::helpers::unissued_key("bos");
    for (rules, message) in [
        (json!(too_many), "at most 32 audit rules".to_owned()),
        (
            json!([rule("x.read", "all"), rule("", "all")]),
            "audit_rules[1].pattern: each '.'-separated part must be".to_owned(),
        ),
        (
            json!([rule("invoices..read", "all")]),
            "audit_rules[0].pattern: each".to_owned(),
        ),
        (
            json!([rule("x", "all"), rule("x", "none")]),
            "audit_rules[1].pattern repeats an earlier rule's pattern".to_owned(),
        ),
        (
            json!([rule("x", "sometimes")]),
            "audit_rules[0].level must be all, failures, aggregate or none".to_owned(),
        ),
        (
            json!([rule(&key, "all")]),
            "audit_rules[0].pattern: looks like an API key".to_owned(),
        ),
    ] {
        let reply = h
            .patch("/v1/workspace", &json!({"audit_rules": rules}))
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
        let said = reply.json["error"]["message"].as_str().unwrap_or_default();
        assert!(said.contains(&message), "{said} / {message}");
        assert!(!reply.text.contains(&key), "{}", reply.text);
    }
    for shape in [
        json!({"audit_rules": [{"pattern": "x"}]}),
        json!({"audit_rules": [{"pattern": "x", "level": "all", "extra": 1}]}),
        json!({"audit_rules": "x:all"}),
    ] {
        let reply = h.patch("/v1/workspace", &shape).await;
        assert_eq!(reply.status.as_u16(), 400, "{}", reply.text);
    }
    assert_eq!(h.get("/v1/workspace").await.expect(200), &before);
}
