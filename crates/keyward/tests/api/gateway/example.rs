//! The example: the invoices service (`examples/invoices_upstream/service.rs`) behind
//! `keyward gateway` configured by `examples/gateway/invoices.toml`, against a real keyward:
//! a key with `invoices:read` lists but cannot delete, a revoked key is refused at once, and
//! the audit trail says which key, by name, deleted which invoice.

#[path = "../../../examples/invoices_upstream/service.rs"]
mod service;

use super::harness;
use crate::helpers::NewKey;
use keyward_gateway::GatewayConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn the_invoices_example_behind_the_gateway_lists_refuses_and_records_who_deleted_what() {
    let invoices = service::Invoices::sample();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let router = service::router(invoices.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gateway/invoices.toml"
    );
    let mut config = GatewayConfig::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    config.upstream = upstream.parse().unwrap();
    let app = tokio::task::spawn_blocking(move || harness::start(config))
        .await
        .unwrap();
    let reader = NewKey::from(
        &app.api
            .create_key_ok(&json!({"name": "Invoice Dashboard", "permissions": ["invoices:read"]}))
            .await,
    );
    let clerk = NewKey::from(
        &app.api
            .create_key_ok(&json!({"name": "Accounts Clerk Integration",
                                   "permissions": ["invoices:read", "invoices:delete"]}))
            .await,
    );
    let client = reqwest::Client::new();

    let listed = client
        .get(app.at("/invoices"))
        .bearer_auth(&reader.key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let body: Value = listed.json().await.unwrap();
    assert_eq!(body["invoices"].as_array().unwrap().len(), 3);
    let refused = client
        .delete(app.at("/invoices/41"))
        .bearer_auth(&reader.key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let deleted = client
        .delete(app.at("/invoices/42"))
        .bearer_auth(&clerk.key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        *invoices.deleted_by.lock().unwrap(),
        [(42, "Accounts Clerk Integration".to_owned())]
    );

    app.api
        .revoke_key(&reader.id, Some("laptop lost"))
        .await
        .expect(200);
    let revoked = client
        .get(app.at("/invoices"))
        .bearer_auth(&reader.key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);

    // Who deleted invoice 42, from the audit trail alone.
    let trail = app
        .api
        .get("/v1/audit?action=DELETE&outcome=VALID")
        .await
        .expect(200)
        .clone();
    let events = trail["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{trail}");
    assert_eq!(events[0]["key_name"], "Accounts Clerk Integration");
    assert_eq!(events[0]["resource"], "/invoices/42");
    let denied = app
        .api
        .get("/v1/audit?action=DELETE&outcome=INSUFFICIENT_PERMISSIONS")
        .await
        .expect(200)
        .clone();
    assert_eq!(denied["events"][0]["key_name"], "Invoice Dashboard");
    assert_eq!(denied["events"][0]["resource"], "/invoices/41");
    drop(app);
    server.abort();
}
