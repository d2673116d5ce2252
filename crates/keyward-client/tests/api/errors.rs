//! The server's refusals as typed errors: status, code, message and `Retry-After`; an answer
//! that never came; and the raw route for what the typed methods cannot send.

use crate::server;
use keyward_client::api::leaks::{LeakReport, LeakedKey};
use keyward_client::api::{
    CreateKeyRequest, CreateRootKeyRequest, ErrorCode, UpdateWorkspaceSettings, VerificationAudit,
    VerifyRequest,
};
use keyward_client::{Client, Error, Method, SecretString, StatusCode, TransportKind};
use std::time::Duration;

fn refused(result: Result<impl std::fmt::Debug, Error>) -> keyward_client::ApiError {
    match result {
        Err(Error::Api(api)) => api,
        other => panic!("expected the server's refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_root_key_is_401() {
    let server = server::start().await;
    let stranger = server.client_with("kwroot_NotARootKeyThisServerKnowsAbout0000");
    let error = refused(stranger.policy().await);
    assert_eq!(error.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error.code, Some(ErrorCode::Unauthorized));
    assert!(error.message.is_some_and(|m| m.contains("Bearer")));
    let error = refused(server.anonymous().root_keys().await);
    assert_eq!(error.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_root_key_without_the_right_is_403() {
    let server = server::start().await;
    let reader = server
        .client()
        .create_root_key(&CreateRootKeyRequest {
            name: "Reader".into(),
            permissions: vec!["keys:read".into()],
        })
        .await
        .unwrap()
        .value;
    let error = refused(
        server
            .client_with(&reader.key)
            .create_key(&CreateKeyRequest {
                name: "Not allowed".into(),
                ..CreateKeyRequest::default()
            })
            .await,
    );
    assert_eq!(error.status, StatusCode::FORBIDDEN);
    assert_eq!(error.code, Some(ErrorCode::Forbidden));
    assert!(error.body.contains("keys:write"), "{}", error.body);
}

#[tokio::test]
async fn a_missing_key_is_404() {
    let server = server::start().await;
    let error = refused(server.client().key("key_doesnotexist").await);
    assert_eq!(error.status, StatusCode::NOT_FOUND);
    assert_eq!(error.code, Some(ErrorCode::NotFound));
    // An id that would climb out of its path segment stays in it.
    let error = refused(server.client().key("../root-keys").await);
    assert_eq!(error.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_400_with_the_servers_message() {
    let server = server::start().await;
    let keyward = server.client();
    let error = refused(
        keyward
            .verify(&VerifyRequest {
                key: "bos_whatever".into(),
                permission: Some("invoices:read AND".into()),
                ..VerifyRequest::default()
            })
            .await,
    );
    assert_eq!(error.status, StatusCode::BAD_REQUEST);
    assert_eq!(error.code, Some(ErrorCode::BadRequest));
    // A value the server does not know goes out as given and is refused there.
    let error = refused(
        keyward
            .update_workspace(&UpdateWorkspaceSettings {
                verification_audit: Some(VerificationAudit::from("sometimes")),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(
        error.message.as_deref(),
        Some("verification_audit must be all, failures, aggregate or none")
    );
}

#[tokio::test]
async fn too_many_leak_reports_are_429_with_retry_after() {
    let server = server::start().await;
    let report = LeakReport {
        keys: vec![LeakedKey::Bare("bos_notakey".into())],
        source: None,
    };
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let client = server.anonymous();
            let report = report.clone();
            tokio::spawn(async move { client.report_leaks(&report).await })
        })
        .collect();
    let mut limited = Vec::new();
    for task in tasks {
        if let Err(Error::Api(api)) = task.await.unwrap() {
            limited.push(api);
        }
    }
    let first = limited.first().expect("a 429 once the burst is spent");
    assert_eq!(first.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.code, Some(ErrorCode::RateLimited));
    assert_eq!(first.retry_after, Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn no_server_is_a_connect_error_naming_the_url() {
    // Bound, then closed: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&url, SecretString::from("kwroot_x".to_owned())).unwrap();
    match client.policy().await {
        Err(Error::Transport {
            url: shown, kind, ..
        }) => {
            assert_eq!(shown, url);
            assert_eq!(kind, TransportKind::Connect);
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn raw_requests_reach_what_typed_methods_cannot_send() {
    let server = server::start().await;
    let keyward = server.client();
    let answer = keyward
        .send_raw(
            keyward
                .request(Method::POST, "/v1/keys")
                .json(&serde_json::json!({"name": "Typo", "nmae": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json().unwrap()["error"]["code"], "bad_request");
    let answer = keyward
        .send_raw(keyward.request(Method::DELETE, "/v1/keys"))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
}
