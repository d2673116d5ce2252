//! The JSON body extractor (`ApiJson`) of every request type on arbitrary bytes, with every
//! string `"KEY"` in the input (a value or a field name) replaced by a real key: never panics, accepts only a
//! JSON object, refuses with a 4xx, and the refusal never carries the key.
#![no_main]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, Request};
use axum::response::IntoResponse;
use keyward_api::{
    leaks::LeakReport, CreateKeyRequest, CreateRootKeyRequest, Policy, RevokeKeyRequest,
    RotateKeyRequest, UpdateKeyRequest, UpdateWorkspaceSettings, VerifyRequest,
};
use keyward_core::key_format::checksum;
use keyward_server::extract::ApiJson;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use std::sync::OnceLock;

fn key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let signed = "bos_FuzzedRequestKeyBodyOfThirtyTwoCharsX";
        let sum = checksum(signed);
        format!("{signed}{}", String::from_utf8_lossy(&sum))
    })
}

/// `text` with every `"KEY"` replaced by the real key, as a value and as a field name alike:
/// an error must not echo a key from either place.
fn with_key(text: &str) -> String {
    text.replace("\"KEY\"", &format!("\"{}\"", key()))
}

/// Extracts `T` from `body`; checks what came back.
fn extract<T: DeserializeOwned>(body: Vec<u8>) {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .expect("a valid request");
    let result = futures_util::FutureExt::now_or_never(ApiJson::<T>::from_request(request, &()))
        .expect("an in-memory body is read at once");
    match result {
        Ok(_) => {
            let value: serde_json::Value =
                serde_json::from_slice(&body).expect("what was accepted is JSON");
            assert!(value.is_object(), "accepted a non-object: {value}");
        }
        Err(error) => {
            let response = error.into_response();
            let status = response.status().as_u16();
            assert!(matches!(status, 400 | 413 | 415), "refused with {status}");
            let bytes = futures_util::FutureExt::now_or_never(axum::body::to_bytes(
                response.into_body(),
                usize::MAX,
            ))
            .expect("an in-memory body")
            .expect("readable");
            let text = String::from_utf8_lossy(&bytes);
            let key = key();
            let secret = &key[4..];
            assert!(
                !text.contains(key) && !text.contains(secret),
                "the refusal carries the key: {text}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let body = match std::str::from_utf8(rest) {
        Ok(text) => with_key(text).into_bytes(),
        // Not UTF-8: sent as is (no key in it).
        Err(_) => rest.to_vec(),
    };
    match which % 9 {
        0 => extract::<CreateKeyRequest>(body),
        1 => extract::<UpdateKeyRequest>(body),
        2 => extract::<RevokeKeyRequest>(body),
        3 => extract::<RotateKeyRequest>(body),
        4 => extract::<VerifyRequest>(body),
        5 => extract::<LeakReport>(body),
        6 => extract::<CreateRootKeyRequest>(body),
        7 => extract::<UpdateWorkspaceSettings>(body),
        _ => extract::<Policy>(body),
    }
});
