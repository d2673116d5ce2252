//! Every error the server produces itself, below the handlers, has keyward's JSON error body
//! and the security headers: hyper's answers to unparsable requests and the request timeout.

use crate::helpers::spawn_app;
use crate::raw_http::{closed_within, connect_from, read_response, send_get, SAFETY};
use tokio::io::AsyncWriteExt;

async fn answer_to(app: &crate::helpers::TestApp, request: &[u8]) -> crate::raw_http::RawResponse {
    let mut stream = connect_from([127, 0, 0, 1], app.socket_addr()).await;
    // The server may answer and close before all of a large request is written.
    let _ = stream.write_all(request).await;
    let answer = read_response(&mut stream).await.expect("an answer");
    assert!(closed_within(&mut stream, SAFETY).await);
    answer
}

#[tokio::test]
async fn a_malformed_request_line_is_answered_400_in_json_with_security_headers() {
    let app = spawn_app();
    answer_to(&app, b"this is not http\r\n\r\n")
        .await
        .assert_keyward_error(400, "bad_request");
    answer_to(&app, b"GET /healthz HTTP/1.1\r\nHost localhost\r\n\r\n")
        .await
        .assert_keyward_error(400, "bad_request");
    // After a good request on the same kept-alive connection, too.
    let mut stream = connect_from([127, 0, 0, 1], app.socket_addr()).await;
    send_get(&mut stream, "/healthz").await;
    assert_eq!(read_response(&mut stream).await.unwrap().status, 200);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: \x01\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut stream)
        .await
        .expect("an answer")
        .assert_keyward_error(400, "bad_request");
}

#[tokio::test]
async fn oversized_request_heads_are_answered_in_json_with_security_headers() {
    let app = spawn_app();
    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    answer_to(&app, long_header.as_bytes())
        .await
        .assert_keyward_error(431, "headers_too_large");
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    answer_to(&app, long_uri.as_bytes())
        .await
        .assert_keyward_error(414, "uri_too_long");
}
