//! Credits under a SIGKILL, with the real binary: a key with credits is verified by
//! concurrent callers and the server is killed mid-load; after the restart the credits spent
//! (the balance the key lost) are exactly its recorded `VALID` verifications — a spend and its
//! event are one durable write, so neither survives without the other, and none is taken in
//! twice — every verification answered `VALID` is among them, and the chain verifies.

use crate::helpers::{sigkill, spawn_process_app, Api, NewKey, Rng};
use keyward_client::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

const CREDITS: u64 = 400;

/// The key's `key.verified` events (every page): (resource, outcome).
async fn verified_events(api: &Api<'_>, key_id: &str) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = format!("/v1/audit?kind=key.verified&key_id={key_id}&limit=1000");
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let body = api.get(&query).await.expect(200).clone();
        for event in body["events"].as_array().expect("events") {
            all.push((
                event["resource"].as_str().expect("a resource").to_owned(),
                event["outcome"].as_str().expect("an outcome").to_owned(),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Verifies `key` with its own `resource` per request until `per_worker` requests are done
/// or the server is gone; SIGKILLs it at the `kill_at`th answer. Returns the resources sent
/// and those answered `200 VALID`.
async fn worker(
    api: &Api<'_>,
    key: &NewKey,
    name: &str,
    per_worker: usize,
    answered_total: &AtomicUsize,
    (pid, kill_at): (u32, usize),
) -> (Vec<String>, Vec<String>) {
    let (mut sent, mut valid) = (Vec::new(), Vec::new());
    for i in 0..per_worker {
        let resource = format!("{name}-{i}");
        sent.push(resource.clone());
        let body = json!({"key": key.key, "action": "invoices.read", "resource": resource});
        let request = api.request(Method::POST, "/v1/verify").json(&body);
        let Ok(response) = api.client().send_raw(request).await else {
            return (sent, valid);
        };
        let status = response.status.as_u16();
        let text = response.text;
        crate::helpers::check_answer(status, &text, &Value::Null);
        assert_eq!(status, 200, "{text}");
        let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
        match answer["code"].as_str() {
            Some("VALID") => valid.push(resource),
            Some("USAGE_EXCEEDED") => {}
            _ => panic!("unexpected answer {answer}"),
        }
        if answered_total.fetch_add(1, Ordering::SeqCst) + 1 == kill_at {
            sigkill(pid);
        }
    }
    (sent, valid)
}

/// 12 concurrent verifiers of one key with 400 credits, the server SIGKILLed after a random
/// number of answers, twice (the second round runs the balance out). After each restart:
/// credits spent = recorded `VALID` events, each answered `VALID` recorded, none twice.
#[tokio::test]
async fn credits_spent_equal_recorded_verifications_after_sigkill() {
    const WORKERS: usize = 12;
    const PER_WORKER: usize = 30;
    let mut app = spawn_process_app();
    let key = NewKey::from(
        &app.api()
            .create_key_ok(&json!({
                "name": "Metered Crash Integration",
                "credits": {"remaining": CREDITS},
            }))
            .await,
    );
    let mut rng = Rng::seeded("credits crash");
    let (mut sent, mut answered_valid) = (HashSet::new(), Vec::new());
    for round in 0..2 {
        let answered = AtomicUsize::new(0);
        let kill_at = 20 + rng.below((WORKERS * PER_WORKER / 2) as u64) as usize;
        let api = app.api();
        let pid = app.pid();
        let workers = (0..WORKERS).map(|w| {
            let name = format!("r{round}-w{w}");
            let (api, key, answered) = (&api, &key, &answered);
            async move { worker(api, key, &name, PER_WORKER, answered, (pid, kill_at)).await }
        });
        for (s, v) in futures_util::future::join_all(workers).await {
            sent.extend(s);
            answered_valid.extend(v);
        }
        assert!(answered.load(Ordering::SeqCst) >= kill_at, "round {round}");
        app.kill();
        app.restart();

        let api = app.api();
        let stored = api
            .get(&format!("/v1/keys/{}", key.id))
            .await
            .expect(200)
            .clone();
        let remaining = stored["credits"]["remaining"].as_u64().expect("a balance");
        let events = verified_events(&api, &key.id).await;
        let resources: HashSet<&String> = events.iter().map(|(r, _)| r).collect();
        assert_eq!(
            resources.len(),
            events.len(),
            "round {round}: an event twice"
        );
        let valid: HashSet<&String> = events
            .iter()
            .filter(|(_, outcome)| outcome == "VALID")
            .map(|(r, _)| r)
            .collect();
        assert_eq!(
            CREDITS - remaining,
            valid.len() as u64,
            "round {round}: credits spent against VALID verifications recorded"
        );
        for resource in &answered_valid {
            assert!(
                valid.contains(resource),
                "{resource} answered VALID, not recorded"
            );
        }
        assert!(events.iter().all(|(r, _)| sent.contains(r)));
        let check = api.get("/v1/audit/verify").await.expect(200).clone();
        assert_eq!(check["valid"], json!(true), "{check}");
        println!(
            "round {round}: killed after {kill_at} answers; {} credits spent, {} VALID recorded",
            CREDITS - remaining,
            valid.len()
        );
    }
}
