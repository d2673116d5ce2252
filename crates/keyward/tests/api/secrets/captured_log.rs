//! The secret check of an in-process server's log has something to check: the server's
//! `trace` lines are captured, and each lands in the log of the server that wrote it.

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_in_process_servers_trace_lines_are_captured_in_its_own_log() {
    let first = spawn_app();
    let second = spawn_app();
    first
        .api()
        .new_key("captured log", &["documents:read"])
        .await;
    let log = first.log_text();
    assert!(log.contains("listening on http://"), "{log}");
    assert!(
        log.contains("request started method=POST route=/v1/keys"),
        "{log}"
    );
    let other = second.log_text();
    assert!(other.contains("listening on http://"), "{other}");
    assert!(
        !other.contains("route=/v1/keys"),
        "another server's request is in this log: {other}"
    );
}
