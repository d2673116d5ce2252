//! HTTP hygiene of the real server: slow-loris clients are cut off, SIGTERM lets a request in
//! flight finish, and every response that carries a key is `Cache-Control: no-store` with the
//! security headers.

use crate::helpers::{spawn_app, spawn_app_env, NewKey};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A safety net for a hung server, not a performance threshold.
const SAFETY: Duration = Duration::from_secs(120);

/// Reads until the server closes the connection (EOF or reset); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(SAFETY, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server held the connection open");
    received
}

#[tokio::test]
async fn a_slow_loris_client_is_disconnected() {
    let app = spawn_app_env(1, &[("KEYWARD_HEADER_TIMEOUT_SECS", "1")]);
    // A request head that never ends.
    let mut partial = TcpStream::connect(app.socket_addr()).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
        .await
        .unwrap();
    read_until_closed(&mut partial).await;
    // A client that connects and sends nothing at all.
    let mut silent = TcpStream::connect(app.socket_addr()).await.unwrap();
    read_until_closed(&mut silent).await;
    // The server still serves everyone else.
    app.anonymous().get("/healthz").await.expect(200);
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let mut app = spawn_app();
    let body = json!({"name": "in flight", "permissions": ["documents:read"]}).to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut stream = TcpStream::connect(app.socket_addr()).await.unwrap();
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.root_key(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    // A request whose head arrived is in flight, its handler waiting for the rest of the
    // body; the server logs (at trace) when it starts.
    app.wait_for_log("request started method=POST route=/v1/keys");
    app.send_term();
    app.wait_for_log("shutting down");
    stream.write_all(rest).await.unwrap();
    let response = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the request in flight was not answered: {response:?}"
    );
    assert!(
        response
            .to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{response:?}"
    );
    assert!(
        app.wait_exit(),
        "graceful shutdown failed:\n{}",
        app.log_text()
    );
    // What it acknowledged is there after a restart.
    let (_, json_body) = response.split_once("\r\n\r\n").unwrap();
    let created = NewKey::from(&serde_json::from_str(json_body).unwrap());
    app.restart();
    assert_eq!(app.api().verify_code(&created.key, None).await, "VALID");
}

#[tokio::test]
async fn every_response_carrying_a_key_is_no_store_with_security_headers() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key("headers", &["documents:read"]).await;
    let answers = vec![
        api.create_key(&json!({"name": "headers two"})).await,
        api.show_key(&key.id).await,
        api.list_keys("").await,
        api.update_key(&key.id, &json!({"name": "renamed"})).await,
        api.rotate_key(&key.id, 0).await,
        api.verify(&key.key, None).await,
        api.create_root_key("second root", &["keys:read"]).await,
        api.get("/v1/root-keys").await,
        api.revoke_key(&key.id, None).await,
        api.get("/v1/audit").await,
        api.get("/v1/audit/export").await,
        // Errors and unauthenticated answers too.
        app.anonymous().get("/v1/keys").await,
        api.get("/v1/keys/key_doesnotexist").await,
        app.anonymous().get("/healthz").await,
    ];
    for answer in &answers {
        assert!(answer.status.as_u16() < 500, "{}", answer.text);
        answer.assert_no_store();
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
        assert_eq!(answer.header("x-frame-options"), "DENY");
        assert_eq!(answer.header("referrer-policy"), "no-referrer");
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTIONS", "1"),
            ("KEYWARD_HEADER_TIMEOUT_SECS", "1"),
        ],
    );
    // The one allowed connection, silent: the server keeps it until the header timeout.
    let mut silent = TcpStream::connect(app.socket_addr()).await.unwrap();
    let order = std::sync::Mutex::new(Vec::new());
    let silent_closed = async {
        read_until_closed(&mut silent).await;
        order.lock().unwrap().push("silent connection closed");
    };
    let second = async {
        app.anonymous().get("/healthz").await.expect(200);
        order.lock().unwrap().push("second client answered");
    };
    tokio::join!(silent_closed, second);
    // Without the limit the second client would be answered at once; with it, only after
    // the first connection was dropped.
    assert_eq!(
        order.into_inner().unwrap(),
        vec!["silent connection closed", "second client answered"]
    );
}
