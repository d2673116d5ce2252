//! A protected axum service on a loopback port, and the keys the tests present to it.

use crate::server::TestServer;
use axum::routing::get;
use axum::{Json, Router};
use keyward_tower::client::api::{
    AuditEvent, AuditKind, AuditQuery, CreateKeyRequest, RevokeKeyRequest,
};
use keyward_tower::client::{Client, RawResponse, SecretString, StatusCode};
use keyward_tower::{KeywardAuth, VerifiedKey};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

/// A service running on loopback; it stops when this is dropped.
pub struct App {
    pub http: Client,
    _stop: oneshot::Sender<()>,
}

impl App {
    /// `GET path` presenting `key` as a bearer key.
    pub async fn get(&self, path: &str, key: Option<&str>) -> RawResponse {
        let mut request = self.http.request(http::Method::GET, path);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        self.http.send_raw(request).await.unwrap()
    }
}

/// Serves `router` on a loopback port, with the connection's address for `ConnectInfo`.
pub async fn serve(router: Router) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    App {
        http: Client::anonymous(&url).unwrap(),
        _stop: stop,
    }
}

/// A client for keyward at `url` presenting `root_key`, as a service would hold it.
pub fn keyward_client(url: &str, root_key: &str) -> Client {
    Client::builder(url)
        .unwrap()
        .root_key(SecretString::from(root_key.to_owned()))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The layer's default settings, asking `server`.
pub fn auth(server: &TestServer) -> KeywardAuth {
    KeywardAuth::builder(keyward_client(&server.url, &server.root_key)).build()
}

/// `/whoami` (needs `invoices:read`) answers with the verified key and whether the key's
/// header reached the handler.
pub fn whoami(auth: &KeywardAuth) -> Router {
    Router::new().route(
        "/whoami",
        get(describe).route_layer(auth.require("invoices:read")),
    )
}

async fn describe(key: VerifiedKey, headers: http::HeaderMap) -> Json<Value> {
    Json(json!({
        "id": key.id,
        "name": key.name,
        "owner_id": key.owner_id,
        "permissions": key.permissions,
        "metadata": key.metadata,
        "cached": key.cached,
        "saw_authorization": headers.contains_key("authorization"),
        "saw_x_api_key": headers.contains_key("x-api-key"),
    }))
}

/// A new key named `name` with `permissions`: its plaintext and its id.
pub async fn create_key(server: &TestServer, name: &str, permissions: &[&str]) -> (String, String) {
    create(
        server,
        CreateKeyRequest {
            name: name.into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..CreateKeyRequest::default()
        },
    )
    .await
}

/// A new key as `request` asks: its plaintext and its id.
pub async fn create(server: &TestServer, request: CreateKeyRequest) -> (String, String) {
    let created = server
        .client()
        .create_key(&request)
        .await
        .unwrap()
        .into_value();
    (created.key, created.record.id)
}

/// The verifications of key `id`, newest first.
pub async fn verifications(server: &TestServer, id: &str) -> Vec<AuditEvent> {
    let query = AuditQuery {
        key_id: Some(id.to_owned()),
        kind: Some(AuditKind::KeyVerified),
        ..AuditQuery::default()
    };
    server
        .client()
        .audit(&query)
        .await
        .unwrap()
        .into_value()
        .events
}

/// Revokes key `id`.
pub async fn revoke(server: &TestServer, id: &str) {
    server
        .client()
        .revoke_key(id, &RevokeKeyRequest::default())
        .await
        .unwrap();
}

/// `response` is the layer's refusal with `status` and `code`.
pub fn assert_refused(response: &RawResponse, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(error_code(response), code, "{}", response.text);
}

/// The JSON body's `error.code`.
pub fn error_code(response: &RawResponse) -> String {
    let body = response.json().unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}
