//! `Debug` of every type that holds a secret prints no secret: keys, digests, root-key and key
//! records, a new workspace's root key, the CLI's client and verify options. (The leak report
//! wire types do not implement `Debug` at all, so they cannot be printed by accident.)

use axum::body::Body;
use axum::http::{header, Request};
use clap::Parser;
use keyward_app::SystemClock;
use keyward_app::{bootstrap, Keyward};
use keyward_cli::{ClientArgs, VerifyArgs};
use keyward_core::{ApiKey, Clock, KeyFilter, KeyHash, KeyPrefix, Store};
use keyward_server::router;
use keyward_sqlite::SqliteStore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tower::ServiceExt;

/// Asserts `shown` has none of `key`'s forms: plaintext, secret part, hex digest.
#[track_caller]
fn assert_hidden(what: &str, shown: &str, key: &str) {
    let part = crate::helpers::secret_part(key);
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    assert!(!shown.contains(key), "{what} Debug shows the key: {shown}");
    assert!(
        !shown.contains(part),
        "{what} Debug shows the secret part: {shown}"
    );
    assert!(
        !shown.to_ascii_lowercase().contains(&digest),
        "{what} Debug shows the digest: {shown}"
    );
    // Nor the digest as a byte list.
    let bytes = format!("{:?}", Sha256::digest(key.as_bytes()).as_slice());
    assert!(
        !shown.contains(&bytes[1..bytes.len() - 1]),
        "{what} Debug shows digest bytes"
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    verify: VerifyArgs,
}

#[tokio::test]
async fn debug_of_every_type_holding_a_secret_prints_no_secret() {
    let key = ApiKey::generate(&KeyPrefix::parse("bos_live").unwrap()).unwrap();
    let plain = key.expose().to_owned();
    assert_hidden("ApiKey", &format!("{key:?} {key:#?}"), &plain);
    let hash = KeyHash::of(&plain);
    assert_hidden("KeyHash", &format!("{hash:?} {hash:#?}"), &plain);

    // A workspace's first root key, and the stored records that hold digests.
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let created = bootstrap::create_workspace(&store, &SystemClock, "Debug", "bos")
        .await
        .unwrap();
    let root = created.root_key.expose().to_owned();
    assert_hidden(
        "NewWorkspace.root_key",
        &format!("{:?}", created.root_key),
        &root,
    );
    let roots = store.root_keys().await.unwrap();
    assert!(!roots.is_empty());
    assert_hidden("RootKey", &format!("{roots:?} {roots:#?}"), &root);
    let store: Arc<dyn Store> = Arc::new(store);
    let state = Keyward::load(Arc::clone(&store), Arc::new(SystemClock))
        .await
        .unwrap();
    let request = Request::post("/v1/keys")
        .header(header::AUTHORIZATION, format!("Bearer {root}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "Debug me"}"#))
        .unwrap();
    let response = router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    crate::helpers::check_answer(201, &body.to_string(), &body);
    let issued = body["key"].as_str().unwrap();
    let filter = KeyFilter {
        owner_id: None,
        status: None,
        now: SystemClock.now(),
        before_id: None,
        limit: 10,
    };
    let records = store
        .list_keys(&created.workspace.id, &filter)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_hidden("KeyRecord", &format!("{records:?} {records:#?}"), issued);

    // The CLI's options, parsed from a command line that holds both secrets.
    let cli = Cli::try_parse_from(["keyward", "--root-key", &root, &plain]).unwrap();
    assert_hidden(
        "ClientArgs",
        &format!("{:?} {:#?}", cli.client, cli.client),
        &root,
    );
    assert_hidden(
        "VerifyArgs",
        &format!("{:?} {:#?}", cli.verify, cli.verify),
        &plain,
    );
}

/// The suite-wide check in `helpers::Answer::new` and `TestApp`'s drop would catch a leak.
#[test]
#[should_panic(expected = "carries a key")]
fn the_suite_wide_secret_check_catches_a_leaked_key() {
    let key = ApiKey::generate(&KeyPrefix::parse("bos").unwrap()).unwrap();
    crate::helpers::remember_secret(key.expose());
    crate::helpers::assert_no_secret_in("a test body", &format!("oops: {}", key.expose()));
}
