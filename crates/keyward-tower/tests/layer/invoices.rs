//! The invoices example (`examples/invoices/`) end to end against a real keyward server: a
//! reader lists but cannot delete, a revoked key is refused, the audit trail names the key
//! that deleted each invoice, and with keyward gone every request is refused with `503`.

#[path = "../../examples/invoices/service.rs"]
mod service;

use crate::app::{self, create_key};
use crate::server;
use keyward_tower::client::api::{AuditKind, AuditOutcome, AuditQuery};
use keyward_tower::client::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn readers_list_clerks_delete_and_the_audit_trail_says_who_deleted_what() {
    let server = server::start().await;
    let (reader, reader_id) = create_key(&server, "Invoice dashboard", &["invoices:read"]).await;
    let (clerk, _) = create_key(
        &server,
        "Accounts payable clerk",
        &["invoices:read", "invoices:delete"],
    )
    .await;
    let auth = app::auth(&server);
    let app = app::serve(service::router(&auth, service::Invoices::sample())).await;
    let delete = |number: &str, key: &str| {
        let request = app
            .http
            .request(http::Method::DELETE, &format!("/invoices/{number}"))
            .bearer_auth(key);
        app.http.send_raw(request)
    };

    let listed = app.get("/invoices", Some(&reader)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(
        listed.json().unwrap()["invoices"],
        serde_json::json!(["INV-1", "INV-2", "INV-3"])
    );
    let refused = delete("INV-2", &reader).await.unwrap();
    app::assert_refused(&refused, StatusCode::FORBIDDEN, "insufficient_permissions");

    let deleted = delete("INV-2", &clerk).await.unwrap();
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(
        deleted.json().unwrap()["deleted_by"],
        "Accounts payable clerk"
    );
    let listed = app.get("/invoices", Some(&reader)).await;
    assert_eq!(
        listed.json().unwrap()["invoices"],
        serde_json::json!(["INV-1", "INV-3"])
    );

    app::revoke(&server, &reader_id).await;
    let revoked = app.get("/invoices", Some(&reader)).await;
    app::assert_refused(&revoked, StatusCode::UNAUTHORIZED, "invalid_key");

    let deletions = server
        .client()
        .audit(&AuditQuery {
            kind: Some(AuditKind::KeyVerified),
            action: Some("DELETE".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_value()
        .events;
    let trail: Vec<_> = deletions
        .iter()
        .map(|event| {
            (
                event.key_name.as_deref().unwrap_or_default(),
                event.resource.as_deref().unwrap_or_default(),
                event.outcome.clone(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            (
                "Accounts payable clerk",
                "/invoices/INV-2",
                AuditOutcome::from("VALID")
            ),
            (
                "Invoice dashboard",
                "/invoices/INV-2",
                AuditOutcome::from("INSUFFICIENT_PERMISSIONS")
            ),
        ],
        "newest first: who deleted which invoice, and who tried"
    );
}

#[tokio::test]
async fn with_keyward_stopped_the_invoices_service_answers_503() {
    let server = server::start().await;
    let (clerk, _) = create_key(&server, "Accounts payable clerk", &["invoices:read"]).await;
    let auth = app::auth(&server);
    let app = app::serve(service::router(&auth, service::Invoices::sample())).await;
    assert_eq!(
        app.get("/invoices", Some(&clerk)).await.status,
        StatusCode::OK
    );

    let address = server.url.trim_start_matches("http://").to_owned();
    drop(server);
    // Until keyward's listener is closed, the request could still reach it.
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "keyward did not stop");
    let refused = app.get("/invoices", Some(&clerk)).await;
    app::assert_refused(&refused, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}
