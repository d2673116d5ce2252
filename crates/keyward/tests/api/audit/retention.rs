//! Retention, in process with a `ManualClock` moved by days: old verifications are pruned,
//! management events and the chain stay, and the export checker allows gaps only where
//! retention cut.

use crate::audit::router_harness::{assert_valid, harness, names};
use crate::audit::support::{STRIPE, XERO};
use chrono::Duration;
use serde_json::{json, Value};

fn seq_of(events: &[Value], resource: &str) -> i64 {
    events
        .iter()
        .find(|e| e["resource"] == resource)
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or_else(|| panic!("no event for {resource}"))
}

/// Runs `docs/verify_audit_export.py` on `export`; returns its exit code and output.
fn python_check(export: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("audit.ndjson");
    std::fs::write(&file, export).expect("writing the export");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/verify_audit_export.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 runs docs/verify_audit_export.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("an exit code"), text)
}

#[tokio::test]
async fn retention_prunes_old_verifications_keeps_management_events_and_the_chain() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    for i in 0..3 {
        assert_eq!(
            h.verify_code(&stripe, "invoices:delete", &format!("old-{i}"))
                .await,
            "VALID"
        );
    }
    h.clock.advance(Duration::days(91));
    for i in 0..2 {
        h.verify_code(&stripe, "invoices:delete", &format!("new-{i}"))
            .await;
    }
    h.new_key(XERO, &["payroll:write"]).await;
    let before = h.events("").await;
    assert_eq!(before.len(), 9);
    let cut = seq_of(&before, "old-2");

    assert_eq!(h.prune().await, 3, "the three verifications past 90 days");
    assert_eq!(
        h.resources("kind=key.verified").await,
        names(&["new-0", "new-1"])
    );
    let kept: Vec<String> = h
        .events("outcome=OK")
        .await
        .iter()
        .rev()
        .map(|e| e["kind"].as_str().expect("a kind").to_owned())
        .collect();
    assert_eq!(
        kept,
        [
            "workspace.created",
            "root_key.created",
            "key.created",
            "key.created",
            "audit.checkpoint"
        ],
        "management events are kept whatever their age, and the cut is chained"
    );
    assert_valid(&h.chain().await, 7, Some(cut));
    assert_eq!(h.prune().await, 0, "pruning again changes nothing");
    assert_valid(&h.chain().await, 7, Some(cut));

    // A 30-day setting: kept at 29 days, pruned at 31.
    h.patch("/v1/workspace", &json!({"audit_retention_days": 30}))
        .await
        .expect(200);
    h.verify_code(&stripe, "invoices:delete", "thirty-0").await;
    h.clock.advance(Duration::days(29));
    h.verify_code(&stripe, "invoices:delete", "thirty-1").await;
    assert_eq!(h.prune().await, 0);
    assert_eq!(
        h.resources("kind=key.verified").await,
        names(&["new-0", "new-1", "thirty-0", "thirty-1"])
    );
    let before = h.events("").await;
    h.clock.advance(Duration::days(2));
    assert_eq!(
        h.prune().await,
        3,
        "new-0, new-1 and thirty-0 are 31+ days old"
    );
    assert_eq!(h.resources("kind=key.verified").await, names(&["thirty-1"]));
    let cut = seq_of(&before, "thirty-0");
    let remaining = h.events("").await.len();
    assert_eq!(
        remaining, 8,
        "5 management events, 2 audit.checkpoint events and thirty-1"
    );
    assert_valid(&h.chain().await, remaining, Some(cut));

    // The chain goes on from the cut.
    h.verify_code(&stripe, "invoices:delete", "after").await;
    assert_valid(&h.chain().await, remaining + 1, Some(cut));
}

/// The export checker allows gaps only where the chain's newest checkpoint says retention
/// pruned: a kept event deleted before the cut, or any event deleted after it, is a break.
#[tokio::test]
async fn the_export_checker_allows_only_retentions_gaps() {
    let h = harness().await;
    let (_, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    h.verify_code(&stripe, "invoices:delete", "old").await;
    h.clock.advance(Duration::days(91));
    h.verify_code(&stripe, "invoices:delete", "new-0").await;
    h.verify_code(&stripe, "invoices:delete", "new-1").await;
    assert_eq!(h.prune().await, 1);
    let reply = h.get("/v1/audit/export").await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let text = reply.text;
    let (code, out) = python_check(&text);
    assert_eq!(code, 0, "{out}");

    // The default `Store::anchor_point` (this test store does not override it) counts what
    // the chain check counts: every event at or before the head but verifications.
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let workspace_id = events[0]["workspace_id"].as_str().unwrap();
    let head = h
        .state
        .store()
        .anchor_point(workspace_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        head.seq,
        events[0]["seq"].as_i64().unwrap(),
        "the newest event"
    );
    assert_eq!(head.hash, events[0]["hash"].as_str().unwrap());
    let kept = events
        .iter()
        .filter(|e| e["kind"] != "key.verified")
        .count();
    assert_eq!(head.kept, u64::try_from(kept).unwrap());

    let without = |pick: &dyn Fn(&Value) -> bool| {
        let lines: Vec<&str> = text.lines().collect();
        let index = lines
            .iter()
            .position(|line| pick(&serde_json::from_str(line).expect("JSON")))
            .expect("a line to drop");
        let mut kept = lines.clone();
        kept.remove(index);
        kept.join("\n")
    };
    let (code, out) = python_check(&without(&|e| e["kind"] == "key.created"));
    assert_eq!(code, 1, "a kept management event deleted: {out}");
    assert!(out.contains("expected"), "{out}");
    let (code, out) = python_check(&without(&|e| e["resource"] == "new-0"));
    assert_eq!(code, 1, "a verification after the cut deleted: {out}");
    assert!(out.contains("retention did not make"), "{out}");
}
