//! What a leak report's answer gives away: nothing about what it held, in body or in time;
//! and reports are rate limited per client address.

use crate::helpers::{spawn_app, unissued_key, PREFIX};
use crate::leaks::support::root_key;
use keyward_server::handlers::leaks::ANSWER_AFTER;
use serde_json::json;
use std::time::Instant;

#[tokio::test]
async fn the_answer_to_a_report_is_the_same_in_body_and_time_whatever_it_held() {
    let app = spawn_app();
    let valid = app
        .api()
        .new_key("Stripe Invoice Sending Integration", &[])
        .await;
    let (_, root) = root_key(&app, "Reporting Root Key", &["keys:read"]).await;
    let reports = [
        json!({"keys": [valid.key], "source": "s"}),
        json!({"keys": [root], "source": "s"}),
        // Now already revoked: only an event is added.
        json!({"keys": [valid.key], "source": "s"}),
        json!({"keys": [unissued_key(PREFIX)], "source": "s"}),
        json!({"keys": [unissued_key("kw_root")], "source": "s"}),
        json!({"keys": ["not a key at all"], "source": "s"}),
    ];
    let mut answers = Vec::new();
    for report in &reports {
        let started = Instant::now();
        let answer = app.anonymous().post("/v1/leaks", report).await;
        let took = started.elapsed();
        assert_eq!(answer.status.as_u16(), 202, "{}", answer.text);
        // Every answer waits for the same moment, whatever the report held (the handler's
        // unit test shows, on a paused clock, that work and no work end at that same instant).
        assert!(took >= ANSWER_AFTER, "answered after {took:?}: {report}");
        let mut headers: Vec<(String, String)> = answer
            .headers
            .iter()
            // The date and the request id (new for every request) differ by nature.
            .filter(|(name, _)| *name != "date" && *name != "x-request-id")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        answers.push((answer.text.clone(), headers));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    assert_eq!(
        app.api().verify_code(&valid.key, None).await,
        "REVOKED",
        "the valid key was revoked before the answer"
    );
    app.as_root(&root).list_keys("").await.expect(401);
}

#[tokio::test]
async fn reports_are_rate_limited_per_address() {
    let server = spawn_app();
    let anonymous = server.anonymous();
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let res = anonymous
            .post("/v1/leaks", &json!({"keys": ["bos_x"]}))
            .await;
        statuses.push(res.status.as_u16());
    }
    assert!(statuses[..20].iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(statuses[24], 429, "{statuses:?}");
}
