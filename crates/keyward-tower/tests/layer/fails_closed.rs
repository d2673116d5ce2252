//! When keyward cannot answer, or what answers is not keyward, the layer refuses with `503`
//! and never calls the handler.

use crate::app::{self, create_key};
use crate::server;
use axum::routing::post;
use axum::Router;
use keyward_tower::client::StatusCode;
use keyward_tower::KeywardAuth;
use std::time::Duration;

async fn unavailable(keyward_url: &str, root_key: &str, key: &str) {
    let auth = KeywardAuth::builder(app::keyward_client(keyward_url, root_key))
        .timeout(Duration::from_millis(500))
        .build();
    let app = app::serve(app::whoami(&auth)).await;
    let refused = app.get("/whoami", Some(key)).await;
    app::assert_refused(&refused, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert!(!refused.text.contains(key));
}

#[tokio::test]
async fn nothing_listening_where_keyward_should_be_is_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    unavailable(&url, "kwroot_whatever", "bos_somekey").await;
}

#[tokio::test]
async fn an_answer_that_is_not_keyward_s_is_503() {
    let impostor = Router::new().route("/v1/verify", post(|| async { "<html>valid: true</html>" }));
    let impostor = app::serve(impostor).await;
    unavailable(&impostor.http.url(), "kwroot_whatever", "bos_somekey").await;
    let garbage_json = Router::new().route(
        "/v1/verify",
        post(|| async { axum::Json(serde_json::json!({ "valid": true })) }),
    );
    let garbage_json = app::serve(garbage_json).await;
    unavailable(&garbage_json.http.url(), "kwroot_whatever", "bos_somekey").await;
    let valid_but_nameless = Router::new().route(
        "/v1/verify",
        post(|| async { axum::Json(serde_json::json!({ "valid": true, "code": "VALID" })) }),
    );
    let valid_but_nameless = app::serve(valid_but_nameless).await;
    unavailable(
        &valid_but_nameless.http.url(),
        "kwroot_whatever",
        "bos_somekey",
    )
    .await;
}

#[tokio::test]
async fn a_root_key_keyward_refuses_is_503_not_a_verdict_on_the_key() {
    let server = server::start().await;
    let (key, _) = create_key(&server, "Stripe invoice sending", &["invoices:read"]).await;
    unavailable(&server.url, "kwroot_notarootkey", &key).await;
}

#[tokio::test]
async fn a_keyward_that_never_answers_is_503_after_the_layer_s_timeout() {
    let silent = Router::new().route(
        "/v1/verify",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "never"
        }),
    );
    let silent = app::serve(silent).await;
    unavailable(&silent.http.url(), "kwroot_whatever", "bos_somekey").await;
}
