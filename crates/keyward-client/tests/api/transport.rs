//! Answers a healthy keyward never sends, written by hand on a socket: the root key sent only
//! by a client that has one, and an export that arrives whole, is cut off, refused, or of
//! the wrong type.

use keyward_client::api::AuditQuery;
use keyward_client::{Client, Error, SecretString, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `response` (raw HTTP) to one connection and closes it; returns the server URL.
async fn one_response(response: String) -> String {
    one_exchange(response).await.0
}

/// [`one_response`], and the request's head as the server received it.
async fn one_exchange(response: String) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        }
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        String::from_utf8_lossy(&request).to_ascii_lowercase()
    });
    (url, served)
}

fn client_for(url: String) -> Client {
    Client::new(&url, SecretString::from("kwroot_abc".to_owned())).unwrap()
}

#[tokio::test]
async fn only_a_client_with_a_root_key_sends_one() {
    let accepted =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}";
    let (url, request) = one_exchange(accepted.into()).await;
    client_for(url).health().await.unwrap();
    let head = request.await.unwrap();
    assert!(head.contains("authorization: bearer kwroot_abc"), "{head}");
    let (url, request) = one_exchange(accepted.into()).await;
    Client::anonymous(&url).unwrap().health().await.unwrap();
    let head = request.await.unwrap();
    assert!(!head.contains("authorization"), "{head}");
}

async fn export_all(url: String) -> (Vec<u8>, Result<(), Error>) {
    let client = client_for(url);
    let mut export = match client.export_audit(&AuditQuery::default()).await {
        Ok(export) => export,
        Err(err) => return (Vec::new(), Err(err)),
    };
    let mut body = Vec::new();
    loop {
        match export.next_chunk().await {
            Ok(Some(chunk)) => body.extend(chunk),
            Ok(None) => return (body, Ok(())),
            Err(err) => return (body, Err(err)),
        }
    }
}

#[tokio::test]
async fn an_export_arrives_whole() {
    let url = one_response(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n3\r\n[]\n\r\n0\r\n\r\n"
        .into(),
    )
    .await;
    let (body, result) = export_all(url).await;
    result.unwrap();
    assert_eq!(body, b"{}\n[]\n");
}

#[tokio::test]
async fn an_export_cut_off_is_an_error() {
    // The final zero-length chunk never comes: the server died mid-export.
    let url = one_response(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n"
        .into(),
    )
    .await;
    let (body, result) = export_all(url).await;
    assert!(body.len() <= 3, "{body:?}");
    let error = result.unwrap_err();
    assert!(matches!(error, Error::CutOff { .. }), "{error:?}");
    assert!(error.to_string().contains("is incomplete"), "{error}");
}

#[tokio::test]
async fn an_export_refused_or_of_the_wrong_type_is_an_error() {
    let body = r#"{"error":{"code":"forbidden","message":"this root key lacks audit:read"}}"#;
    let url = one_response(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
    .await;
    let error = export_all(url).await.1.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(
        error.api().and_then(|api| api.message.as_deref()),
        Some("this root key lacks audit:read")
    );
    let url = one_response(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>".into(),
    )
    .await;
    let error = export_all(url).await.1.unwrap_err();
    assert!(
        error.to_string().contains("expected application/x-ndjson"),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_keywards_json_is_a_decode_error() {
    let url = one_response(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>".into(),
    )
    .await;
    let error = client_for(url).policy().await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    assert!(error.to_string().contains("is this a keyward server?"));
}
