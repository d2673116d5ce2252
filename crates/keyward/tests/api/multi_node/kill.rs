//! One audit chain under a kill: two `keyward serve` processes on one PostgreSQL database take
//! concurrent management and verification load; one is SIGKILLed mid-load, its local
//! directory deleted (on PostgreSQL an acknowledged event is committed in the shared database
//! before the answer, so nothing durable lives on the node) and started again. Then the
//! workspace's chain verifies and every acknowledged event — each key created (`201`) and
//! each verification answered (`200`), identified by the key and the action sent — is in the
//! audit trail.

use super::node::postgres;
use super::process::{replace_directory, ProcessNode};
use crate::helpers::{init_workspace, sigkill, Api};
use futures_util::future::join_all;
use keyward_client::Method;
use keyward_postgres::scratch::ScratchDatabase;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Load tasks per node, and operations per task (every fourth one a key creation).
const TASKS: usize = 4;
const OPS: usize = 60;
/// The kill comes once this many operations were acknowledged, whichever node took them.
const KILL_AFTER: usize = 150;

/// What the servers acknowledged.
#[derive(Default)]
struct Acknowledged {
    created: BTreeSet<String>,
    verified: BTreeSet<String>,
}

/// `OPS` operations by task `task` against the node at `url`; transport failures (the node
/// was killed) are counted, not acknowledged.
async fn load(
    url: String,
    root_key: String,
    key: String,
    label: String,
    acks: Arc<Mutex<Acknowledged>>,
    count: Arc<AtomicUsize>,
) -> usize {
    let api = Api::at(&url, Some(&root_key));
    let mut failed = 0;
    for i in 0..OPS {
        let (request, created) = if i % 4 == 0 {
            let name = format!("Kill Load Key {label} {i}");
            let body = json!({"name": name, "permissions": ["orders:read"]});
            (api.request(Method::POST, "/v1/keys").json(&body), true)
        } else {
            let action = format!("kill.{label}.{i}");
            let body = json!({"key": key, "action": action});
            (api.request(Method::POST, "/v1/verify").json(&body), false)
        };
        let Ok(answer) = api.client().send_raw(request).await else {
            failed += 1;
            continue;
        };
        let body: Value = serde_json::from_str(&answer.text).unwrap_or(Value::Null);
        let status = answer.status.as_u16();
        let mut acks = acks.lock().unwrap();
        match (created, status) {
            (true, 201) => {
                acks.created.insert(body["id"].as_str().unwrap().to_owned());
            }
            (false, 200) => {
                assert_eq!(body["code"], "VALID", "{body}");
                acks.verified.insert(format!("kill.{label}.{i}"));
            }
            _ => panic!("unexpected answer {status}: {}", answer.text),
        }
        count.fetch_add(1, Ordering::SeqCst);
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_chain_survives_a_node_killed_mid_load_and_its_directory_deleted() {
    let test =
        "multi_node::kill::one_chain_survives_a_node_killed_mid_load_and_its_directory_deleted";
    let Some(server) = postgres(test) else {
        return;
    };
    let db = ScratchDatabase::create(&server).await.unwrap();
    let workspace = tokio::task::spawn_blocking({
        let url = db.url().to_owned();
        move || init_workspace(&url, "Kill Test Workspace")
    })
    .await
    .unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = ProcessNode::start(db.url(), dirs[0].path());
    let setup = Api::at(&a.url, Some(&workspace.root_key));
    let key = setup
        .new_key("Order Intake Integration", &["orders:read"])
        .await;
    let mut b = ProcessNode::start(db.url(), dirs[1].path());

    let acks = Arc::new(Mutex::new(Acknowledged::default()));
    let count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let killer = tokio::spawn({
        let (count, killed, pid) = (count.clone(), killed.clone(), b.pid());
        async move {
            while count.load(Ordering::SeqCst) < KILL_AFTER {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            sigkill(pid);
            killed.store(true, Ordering::SeqCst);
        }
    });
    let tasks = (0..2 * TASKS).map(|t| {
        let (node, url) = if t % 2 == 0 {
            ("a", &a.url)
        } else {
            ("b", &b.url)
        };
        load(
            url.clone(),
            workspace.root_key.clone(),
            key.key.clone(),
            format!("{node}{t}"),
            acks.clone(),
            count.clone(),
        )
    });
    let failed: usize = join_all(tasks).await.into_iter().sum();
    killer.await.unwrap();
    assert!(killed.load(Ordering::SeqCst));
    b.kill();
    let acknowledged_at_kill = count.load(Ordering::SeqCst);
    println!(
        "{acknowledged_at_kill} operations acknowledged, {failed} failed against the killed node"
    );
    assert!(failed > 0, "the kill came mid-load");

    // The node comes back on an empty local directory and takes load again.
    let dir = replace_directory(dirs[1].path());
    let b = ProcessNode::start(db.url(), &dir);
    let after = load(
        b.url.clone(),
        workspace.root_key.clone(),
        key.key.clone(),
        "b-after".into(),
        acks.clone(),
        count.clone(),
    )
    .await;
    assert_eq!(after, 0, "the restarted node answers: {}", b.log());

    let api = Api::at(&a.url, Some(&workspace.root_key));
    let check = api.get("/v1/audit/verify").await;
    assert_eq!(check.expect(200)["valid"], true, "{}", check.text);
    let export = api.get("/v1/audit/export").await;
    export.expect(200);
    let mut created = BTreeSet::new();
    let mut verified = BTreeSet::new();
    for line in export.text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        match event["kind"].as_str() {
            Some("key.created") => {
                created.insert(event["key_id"].as_str().unwrap().to_owned());
            }
            Some("key.verified") => {
                if let Some(action) = event["action"].as_str() {
                    assert!(
                        verified.insert(action.to_owned()),
                        "{action} recorded twice"
                    );
                }
            }
            _ => {}
        }
    }
    let acks = acks.lock().unwrap();
    let lost_created: Vec<_> = acks.created.difference(&created).collect();
    let lost_verified: Vec<_> = acks.verified.difference(&verified).collect();
    println!(
        "acknowledged: {} keys created, {} verifications; in the trail: {} created, {} verifications",
        acks.created.len(),
        acks.verified.len(),
        created.len(),
        verified.len()
    );
    assert!(
        lost_created.is_empty(),
        "created keys missing from the trail: {lost_created:?}"
    );
    assert!(
        lost_verified.is_empty(),
        "verifications missing: {lost_verified:?}"
    );
}
