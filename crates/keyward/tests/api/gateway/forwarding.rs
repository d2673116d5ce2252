//! What the gateway forwards and what it refuses, over real HTTP: a valid key for the route's
//! permission passes with the key stripped and the verified key named; an unknown key is
//! `401`, a missing permission `403`, a rate limit `429` with `Retry-After`, no route `404`,
//! a WebSocket upgrade `501` — none of them reaching the upstream; bodies stream both ways;
//! an upstream that is down is `502`, one that is too slow `504`; `X-Forwarded-For` counts
//! only from a trusted proxy; revoking the gateway's own root key stops it with `503`.

use super::harness::{self, GatewayApp};
use super::probe::{Probe, Seen};
use crate::helpers::{secret_part, NewKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ROUTES: &str = r#"
[[route]]
method = "GET"
path = "/invoices"
permission = "invoices:read"

[[route]]
method = "DELETE"
path = "/invoices/{id}"
permission = "invoices:delete"

[[route]]
path = "/echo"

[[route]]
method = "GET"
path = "/stream"

[[route]]
method = "GET"
path = "/slow"

[[route]]
path = "/public/{*rest}"
public = true
"#;

async fn gateway_with(probe: &Probe, extra: &str) -> GatewayApp {
    let config = harness::config(&probe.url, &format!("{extra}\n{ROUTES}"));
    tokio::task::spawn_blocking(move || harness::start(config))
        .await
        .unwrap()
}

async fn key(app: &GatewayApp, body: Value) -> NewKey {
    NewKey::from(&app.api.create_key_ok(&body).await)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// No header value or path the upstream received holds any part of `key`'s secret.
fn assert_never_saw(seen: &[Seen], key: &str) {
    let secret = secret_part(key);
    for request in seen {
        assert!(
            !request.path.contains(secret),
            "the upstream saw the key in its path"
        );
        for (name, value) in &request.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(
                !value.contains(secret),
                "the upstream saw the key in {name}"
            );
        }
    }
}

async fn audit_of(app: &GatewayApp, key_id: &str) -> Vec<Value> {
    let body = app
        .api
        .get(&format!("/v1/audit?key_id={key_id}&kind=key.verified"))
        .await
        .expect(200)
        .clone();
    body["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_valid_key_is_forwarded_stripped_and_named_and_forged_identity_headers_are_removed() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "").await;
    let key = key(
        &app,
        json!({"name": "Stripe Invoice Sending", "owner_id": "cust_42",
               "permissions": ["invoices:read"]}),
    )
    .await;
    let answer = http()
        .get(app.at("/invoices?page=2"))
        .bearer_auth(&key.key)
        .header("X-Keyward-Key-Id", "key_forged")
        .header("X-Keyward-Key-Name", "Administrator")
        .header("X-Keyward-Key-Owner", "root")
        .header("User-Agent", "invoice-sync/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), "{\"ok\": true}");
    let seen = probe.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/invoices?page=2");
    assert!(request.headers.get("authorization").is_none());
    let header = |name: &str| request.headers.get_all(name).iter().collect::<Vec<_>>();
    assert_eq!(header("x-keyward-key-id"), [key.id.as_str()]);
    assert_eq!(header("x-keyward-key-name"), ["Stripe Invoice Sending"]);
    assert_eq!(header("x-keyward-key-owner"), ["cust_42"]);
    assert_eq!(header("x-forwarded-for"), ["127.0.0.1"]);
    assert_never_saw(&seen, &key.key);

    // Every forwarded request is a verification event with its method and path.
    let events = audit_of(&app, &key.id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "VALID");
    assert_eq!(events[0]["action"], "GET");
    assert_eq!(events[0]["resource"], "/invoices");
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(events[0]["user_agent"], "invoice-sync/1.0");
    assert_eq!(events[0]["key_name"], "Stripe Invoice Sending");
}

#[tokio::test]
async fn unknown_or_missing_keys_are_401_and_a_missing_permission_403_and_nothing_is_forwarded() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "").await;
    let reader = key(
        &app,
        json!({"name": "Invoice Reader", "permissions": ["invoices:read"]}),
    )
    .await;
    let client = http();

    let unknown = client
        .get(app.at("/invoices"))
        .bearer_auth(crate::helpers::unissued_key(crate::helpers::PREFIX))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(unknown.headers().contains_key("www-authenticate"));
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let missing = client.get(app.at("/invoices")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let not_bearer = client
        .get(app.at("/invoices"))
        .header("Authorization", format!("Basic {}", reader.key))
        .send()
        .await
        .unwrap();
    assert_eq!(not_bearer.status(), StatusCode::UNAUTHORIZED);

    let forbidden = client
        .delete(app.at("/invoices/42"))
        .bearer_auth(&reader.key)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let body: Value = forbidden.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");

    let no_route = client
        .post(app.at("/invoices"))
        .bearer_auth(&reader.key)
        .send()
        .await
        .unwrap();
    assert_eq!(no_route.status(), StatusCode::NOT_FOUND);

    let upgrade = client
        .get(app.at("/invoices"))
        .bearer_auth(&reader.key)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "13")
        .send()
        .await
        .unwrap();
    assert_eq!(upgrade.status(), StatusCode::NOT_IMPLEMENTED);
    let body: Value = upgrade.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upgrade_not_supported");

    assert!(
        probe.seen().is_empty(),
        "refused requests reached the upstream"
    );
    // The refusal was recorded as what the key tried.
    let events = audit_of(&app, &reader.id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "INSUFFICIENT_PERMISSIONS");
    assert_eq!(events[0]["action"], "DELETE");
    assert_eq!(events[0]["resource"], "/invoices/42");
}

#[tokio::test]
async fn a_rate_limited_key_gets_429_with_retry_after() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "").await;
    let limited = key(
        &app,
        json!({"name": "Payroll Export", "permissions": ["invoices:read"],
               "rate_limit": {"limit": 1, "window_seconds": 60}}),
    )
    .await;
    let client = http();
    let first = client
        .get(app.at("/invoices"))
        .bearer_auth(&limited.key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = client
        .get(app.at("/invoices"))
        .bearer_auth(&limited.key)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(probe.seen().len(), 1);
}

#[tokio::test]
async fn bodies_stream_both_ways_through_the_gateway() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "").await;
    let key = key(&app, json!({"name": "Bulk Uploader", "permissions": []})).await;
    let client = http();

    // 8 MiB sent in chunks of unknown total length, echoed back whole.
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let frames: Vec<Result<http_body::Frame<axum::body::Bytes>, std::io::Error>> = (0..128)
        .map(|_| {
            Ok(http_body::Frame::data(axum::body::Bytes::from(
                chunk.clone(),
            )))
        })
        .collect();
    let body = reqwest::Body::wrap(http_body_util::StreamBody::new(futures_util::stream::iter(
        frames,
    )));
    let echoed = client
        .post(app.at("/echo"))
        .bearer_auth(&key.key)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), StatusCode::OK);
    let bytes = echoed.bytes().await.unwrap();
    assert_eq!(bytes.len(), 128 * chunk.len());
    assert!(bytes
        .chunks(chunk.len())
        .all(|part| part == chunk.as_slice()));

    // The first part of a response arrives while the upstream still holds the rest back:
    // the gateway does not wait for a whole body.
    let mut streaming = client
        .get(app.at("/stream"))
        .bearer_auth(&key.key)
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), streaming.chunk())
        .await
        .expect("the first part arrives before the upstream sends the rest")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    probe.release();
    let rest = streaming.chunk().await.unwrap().unwrap();
    assert_eq!(&rest[..], b"last\n");
}

#[tokio::test]
async fn an_upstream_that_is_down_is_502_and_one_too_slow_is_504() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "timeout_secs = 1").await;
    let key = key(
        &app,
        json!({"name": "Slow Report Reader", "permissions": []}),
    )
    .await;
    let client = http();
    let started = Instant::now();
    let slow = client
        .get(app.at("/slow"))
        .bearer_auth(&key.key)
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
    // Bounded by the configured timeout, far below the upstream's 30 s (a safety margin for
    // a loaded machine, not a performance threshold).
    assert!(started.elapsed() < Duration::from_secs(20));
    let body: Value = slow.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_timeout");

    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = {
        let config = harness::config(&down_url, ROUTES);
        tokio::task::spawn_blocking(move || harness::start(config))
            .await
            .unwrap()
    };
    let key = NewKey::from(
        &down
            .api
            .create_key_ok(&json!({"name": "Invoice Reader", "permissions": ["invoices:read"]}))
            .await,
    );
    let answer = client
        .get(down.at("/invoices"))
        .bearer_auth(&key.key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_gateway");
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_from_a_trusted_proxy() {
    let probe = Probe::start().await;
    let bound = json!({"name": "Office Integration", "permissions": ["invoices:read"],
                       "ip_allowlist": ["203.0.113.0/24"]});
    let client = http();

    // Not trusted: the header is ignored and the socket's address (loopback) is refused.
    let untrusting = gateway_with(&probe, "").await;
    let key = key(&untrusting, bound.clone()).await;
    let forged = client
        .get(untrusting.at("/invoices"))
        .bearer_auth(&key.key)
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(probe.seen().is_empty());
    drop(untrusting);

    // Loopback trusted as a proxy: the client it names is in the key's range.
    let trusting = gateway_with(&probe, "trusted_proxies = [\"127.0.0.1\"]").await;
    let key = self::key(&trusting, bound).await;
    let proxied = client
        .get(trusting.at("/invoices"))
        .bearer_auth(&key.key)
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), StatusCode::OK);
    let seen = probe.seen();
    assert_eq!(seen[0].headers["x-forwarded-for"], "203.0.113.5, 127.0.0.1");
    let events = audit_of(&trusting, &key.id).await;
    assert_eq!(events[0]["ip"], "203.0.113.5");
}

#[tokio::test]
async fn a_public_route_needs_no_key_but_still_drops_identity_headers_and_any_key() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "key_header = \"X-Api-Key\"").await;
    let key = key(&app, json!({"name": "Docs Reader", "permissions": []})).await;
    let answer = http()
        .get(app.at("/public/docs/index.html"))
        .header("X-Api-Key", &key.key)
        .header("X-Keyward-Key-Id", "key_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let seen = probe.seen();
    assert!(seen[0].headers.get("x-api-key").is_none());
    assert!(seen[0].headers.get("x-keyward-key-id").is_none());
    assert_never_saw(&seen, &key.key);
}

#[tokio::test]
async fn revoking_the_gateways_own_root_key_stops_it_with_503() {
    let probe = Probe::start().await;
    let app = gateway_with(&probe, "").await;
    let key = key(
        &app,
        json!({"name": "Invoice Reader", "permissions": ["invoices:read"]}),
    )
    .await;
    let get = || http().get(app.at("/invoices")).bearer_auth(&key.key).send();
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    let seen_before = probe.seen().len();

    // The gateway verifies as the workspace's initial root key, the last one holding `*`,
    // which only it may revoke.
    let roots = app.api.get("/v1/root-keys").await.expect(200).clone();
    let gateway_root = roots
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Initial root key")
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_owned();
    app.api
        .post(&format!("/v1/root-keys/{gateway_root}/revoke"), &json!({}))
        .await
        .expect(200);

    let refused = get().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        probe.seen().len(),
        seen_before,
        "nothing reached the upstream"
    );
}
