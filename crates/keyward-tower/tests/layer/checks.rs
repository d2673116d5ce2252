//! What reaches the handler, and every refusal: status, JSON body, headers; the context the
//! audit trail records.

use crate::app::{self, create, create_key, error_code, verifications};
use crate::server;
use axum::routing::get;
use axum::Router;
use keyward_tower::client::api::{CreateKeyRequest, RateLimitSpec};
use keyward_tower::client::StatusCode;
use keyward_tower::{AuditContext, KeywardAuth};
use std::net::IpAddr;

#[tokio::test]
async fn a_key_with_the_permission_reaches_the_handler_with_its_details_and_without_its_header() {
    let server = server::start().await;
    let mut metadata = serde_json::Map::new();
    metadata.insert("plan".into(), "pro".into());
    let (key, id) = create(
        &server,
        CreateKeyRequest {
            name: "Xero invoice sync".into(),
            owner_id: Some("cus_42".into()),
            permissions: vec!["invoices:*".into()],
            metadata: Some(metadata),
            ..CreateKeyRequest::default()
        },
    )
    .await;
    let app = app::serve(app::whoami(&app::auth(&server))).await;

    let answer = app.get("/whoami", Some(&key)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let seen = answer.json().unwrap();
    assert_eq!(seen["id"], id.as_str());
    assert_eq!(seen["name"], "Xero invoice sync");
    assert_eq!(seen["owner_id"], "cus_42");
    assert_eq!(seen["permissions"], serde_json::json!(["invoices:*"]));
    assert_eq!(seen["metadata"]["plan"], "pro");
    assert_eq!(seen["cached"], false);
    assert_eq!(
        seen["saw_authorization"], false,
        "the key never reaches the handler"
    );
}

#[tokio::test]
async fn a_missing_unknown_or_revoked_key_gets_401_with_a_bearer_challenge() {
    let server = server::start().await;
    let (key, id) = create_key(&server, "Payroll export", &["invoices:read"]).await;
    let app = app::serve(app::whoami(&app::auth(&server))).await;

    let missing = app.get("/whoami", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"keyward\"")
    );
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(error_code(&missing), "missing_key");

    let basic = app
        .http
        .request(http::Method::GET, "/whoami")
        .basic_auth("u", Some("p"));
    let basic = app.http.send_raw(basic).await.unwrap();
    app::assert_refused(&basic, StatusCode::UNAUTHORIZED, "missing_key");

    let unknown = app
        .get("/whoami", Some("bos_notakeyatallxxxxxxxxxxxxxxxxxxxxxxxxx"))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.header("www-authenticate"),
        Some("Bearer realm=\"keyward\", error=\"invalid_token\"")
    );
    assert_eq!(error_code(&unknown), "invalid_key");

    assert_eq!(app.get("/whoami", Some(&key)).await.status, StatusCode::OK);
    app::revoke(&server, &id).await;
    let revoked = app.get("/whoami", Some(&key)).await;
    // At once: nothing is cached by default.
    app::assert_refused(&revoked, StatusCode::UNAUTHORIZED, "invalid_key");
    assert!(revoked.text.contains("revoked"), "{}", revoked.text);
    assert!(!revoked.text.contains(&key) && !unknown.text.contains("notakey"));
}

#[tokio::test]
async fn a_key_without_the_routes_permission_gets_403() {
    let server = server::start().await;
    let (key, _) = create_key(&server, "Payroll export", &["payroll:read"]).await;
    let app = app::serve(app::whoami(&app::auth(&server))).await;
    let refused = app.get("/whoami", Some(&key)).await;
    app::assert_refused(&refused, StatusCode::FORBIDDEN, "insufficient_permissions");
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"keyward\", error=\"insufficient_scope\"")
    );
    assert!(refused.text.contains("invoices:read"), "{}", refused.text);
}

#[tokio::test]
async fn a_path_no_route_matches_stays_404_without_asking_for_a_key() {
    let server = server::start().await;
    let app = app::serve(app::whoami(&app::auth(&server))).await;
    assert_eq!(
        app.get("/nowhere", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_spent_rate_limit_gets_429_with_retry_after() {
    let server = server::start().await;
    let (key, _) = create(
        &server,
        CreateKeyRequest {
            name: "Nightly invoice export".into(),
            permissions: vec!["invoices:read".into()],
            rate_limit: Some(RateLimitSpec {
                limit: 1,
                window_seconds: 60,
            }),
            ..CreateKeyRequest::default()
        },
    )
    .await;
    let app = app::serve(app::whoami(&app::auth(&server))).await;
    assert_eq!(app.get("/whoami", Some(&key)).await.status, StatusCode::OK);
    let limited = app.get("/whoami", Some(&key)).await;
    app::assert_refused(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

#[tokio::test]
async fn the_ip_keyward_checks_is_the_connections_or_the_configured_one() {
    let server = server::start().await;
    let (key, _) = create(
        &server,
        CreateKeyRequest {
            name: "Office invoice scanner".into(),
            permissions: vec!["invoices:read".into()],
            ip_allowlist: Some(vec!["203.0.113.0/24".into()]),
            ..CreateKeyRequest::default()
        },
    )
    .await;
    let from_loopback = app::serve(app::whoami(&app::auth(&server))).await;
    let refused = from_loopback.get("/whoami", Some(&key)).await;
    app::assert_refused(&refused, StatusCode::FORBIDDEN, "forbidden");

    let behind_proxy = KeywardAuth::builder(app::keyward_client(&server.url, &server.root_key))
        .client_ip(|parts| {
            let forwarded = parts.headers.get("x-real-ip")?.to_str().ok()?;
            forwarded.parse::<IpAddr>().ok()
        })
        .build();
    let app = app::serve(app::whoami(&behind_proxy)).await;
    let request = app
        .http
        .request(http::Method::GET, "/whoami")
        .bearer_auth(&key)
        .header("x-real-ip", "203.0.113.9");
    let answer = app.http.send_raw(request).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn the_audit_trail_records_ip_origin_user_agent_and_the_method_and_path() {
    let server = server::start().await;
    let (key, id) = create_key(&server, "Stripe invoice sending", &["invoices:read"]).await;
    let app = app::serve(app::whoami(&app::auth(&server))).await;
    let request = app
        .http
        .request(http::Method::GET, "/whoami?page=2")
        .bearer_auth(&key)
        .header("origin", "https://app.example.com")
        .header("user-agent", "stripe-sync/1.0");
    assert_eq!(
        app.http.send_raw(request).await.unwrap().status,
        StatusCode::OK
    );

    let events = verifications(&server, &id).await;
    let event = &events[0];
    assert_eq!(event.key_name.as_deref(), Some("Stripe invoice sending"));
    assert_eq!(event.action.as_deref(), Some("GET"));
    assert_eq!(event.resource.as_deref(), Some("/whoami"));
    assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(event.origin.as_deref(), Some("https://app.example.com"));
    assert_eq!(event.user_agent.as_deref(), Some("stripe-sync/1.0"));
    assert_eq!(event.outcome.as_str(), "VALID");
}

#[tokio::test]
async fn a_configured_header_and_audit_context_replace_the_defaults() {
    let server = server::start().await;
    let (key, id) = create_key(&server, "Stripe invoice sending", &["invoices:read"]).await;
    let auth = KeywardAuth::builder(app::keyward_client(&server.url, &server.root_key))
        .key_header(http::HeaderName::from_static("x-api-key"))
        .audit_context(|parts| {
            let number = parts.uri.path().rsplit('/').next().unwrap_or_default();
            AuditContext::new("invoices.read", format!("invoice {number}\u{202E}"))
        })
        .build();
    let router = Router::new().route(
        "/invoices/{number}",
        get(
            |key: keyward_tower::VerifiedKey, headers: http::HeaderMap| async move {
                format!("{} {}", key.name, headers.contains_key("x-api-key"))
            },
        )
        .route_layer(auth.require("invoices:read")),
    );
    let app = app::serve(router).await;

    let bearer = app.get("/invoices/INV-7", Some(&key)).await;
    assert_eq!(
        bearer.status,
        StatusCode::UNAUTHORIZED,
        "only the header counts"
    );
    assert_eq!(
        bearer.header("www-authenticate"),
        Some("ApiKey realm=\"keyward\", header=\"x-api-key\"")
    );
    let request = app
        .http
        .request(http::Method::GET, "/invoices/INV-7")
        .header("x-api-key", &key);
    let answer = app.http.send_raw(request).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, "Stripe invoice sending false");

    let events = verifications(&server, &id).await;
    assert_eq!(
        events.len(),
        1,
        "the refused bearer request never reached keyward"
    );
    assert_eq!(events[0].action.as_deref(), Some("invoices.read"));
    assert_eq!(
        events[0].resource.as_deref(),
        Some("invoice INV-7\u{FFFD}"),
        "a character keyward refuses is replaced, not sent"
    );
}
