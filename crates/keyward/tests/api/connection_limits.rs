//! The connection layer under clients that hold connections: idle keep-alive clients cannot
//! lock a newcomer out, one address cannot take every slot, idle connections and unsent
//! bodies do not hold a slot for long (real server, loopback TCP).

use crate::helpers::{spawn_app_env, TestApp};
use crate::raw_http::{closed_within, connect_from, read_response, send_get, SAFETY};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const LOCALHOST: [u8; 4] = [127, 0, 0, 1];

#[tokio::test]
async fn idle_keep_alive_clients_at_the_limit_do_not_lock_a_new_client_out() {
    // The reported lock-out: every slot held by a keep-alive client that sends a request
    // more often than any timeout fires (here every 300 ms against 5 s header and 60 s idle
    // timeouts, a wide margin on a busy machine), so each connection lives for ever and is
    // idle most of the time.
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTIONS", "16"),
            ("KEYWARD_MAX_CONNECTIONS_PER_ADDRESS", "16"),
            ("KEYWARD_HEADER_TIMEOUT_SECS", "5"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "60"),
        ],
    );
    let addr = app.socket_addr().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let shed = Arc::new(AtomicUsize::new(0));
    let mut keepers = Vec::new();
    for _ in 0..16 {
        let mut stream = connect_from(LOCALHOST, &addr).await;
        send_get(&mut stream, "/healthz").await;
        assert_eq!(read_response(&mut stream).await.unwrap().status, 200);
        let (stop, shed) = (Arc::clone(&stop), Arc::clone(&shed));
        keepers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(300)).await;
                send_get(&mut stream, "/healthz").await;
                match read_response(&mut stream).await {
                    Some(response) => assert_eq!(response.status, 200),
                    None => {
                        shed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    // Every slot is taken now. A newcomer is answered while the keepers go on.
    let mut newcomer = connect_from(LOCALHOST, &addr).await;
    send_get(&mut newcomer, "/healthz").await;
    let answered = tokio::time::timeout(Duration::from_secs(20), read_response(&mut newcomer))
        .await
        .ok()
        .flatten();
    stop.store(true, Ordering::Relaxed);
    for keeper in keepers {
        keeper.await.unwrap();
    }
    let answered = answered.expect("the new client was locked out by idle keep-alive clients");
    assert_eq!(answered.status, 200);
    assert!(
        shed.load(Ordering::Relaxed) >= 1,
        "an idle connection made room for the new client"
    );
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTIONS", "16"),
            ("KEYWARD_MAX_CONNECTIONS_PER_ADDRESS", "2"),
            ("KEYWARD_BODY_TIMEOUT_SECS", "600"),
        ],
    );
    let addr = app.socket_addr().to_owned();
    // Two connections from one address, each in the middle of a request (its handler waits
    // for the rest of the body): busy, not idle.
    let mut busy = Vec::new();
    for i in 0..2 {
        let body =
            format!(r#"{{"name": "busy connection {i}", "permissions": ["documents:read"]}}"#);
        let (first, rest) = body.split_at(body.len() / 2);
        let mut stream = connect_from(LOCALHOST, &addr).await;
        let head = format!(
            "POST /v1/keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
            app.root_key(),
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        busy.push((stream, rest.to_owned()));
    }
    wait_for_log_count(&app, "request started method=POST route=/v1/keys", 2).await;
    // A third from the same address is answered 503, in keyward's error format.
    let mut third = connect_from(LOCALHOST, &addr).await;
    send_get(&mut third, "/healthz").await;
    let refused = read_response(&mut third).await.expect("an answer");
    refused.assert_keyward_error(503, "too_many_connections");
    // Another address is served as usual.
    let mut other = connect_from([127, 0, 0, 2], &addr).await;
    send_get(&mut other, "/healthz").await;
    assert_eq!(read_response(&mut other).await.unwrap().status, 200);
    // The busy ones were not touched: their requests finish.
    for (stream, rest) in &mut busy {
        stream.write_all(rest.as_bytes()).await.unwrap();
        assert_eq!(read_response(stream).await.unwrap().status, 201);
    }
}

/// Waits until the server's log holds `needle` `count` times.
async fn wait_for_log_count(app: &TestApp, needle: &str, count: usize) {
    let waited = tokio::time::timeout(SAFETY, async {
        while app.log_text().matches(needle).count() < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{needle:?} never logged {count} times");
}

#[tokio::test]
async fn a_full_address_makes_room_by_closing_its_own_idle_connection() {
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTIONS", "16"),
            ("KEYWARD_MAX_CONNECTIONS_PER_ADDRESS", "2"),
            // Neither timeout can close the idle connections during the test.
            ("KEYWARD_HEADER_TIMEOUT_SECS", "600"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "600"),
        ],
    );
    let addr = app.socket_addr().to_owned();
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from(LOCALHOST, &addr).await;
        send_get(&mut stream, "/healthz").await;
        assert_eq!(read_response(&mut stream).await.unwrap().status, 200);
        idle.push(stream);
    }
    let mut third = connect_from(LOCALHOST, &addr).await;
    send_get(&mut third, "/healthz").await;
    assert_eq!(read_response(&mut third).await.unwrap().status, 200);
    // The one idle longest was closed for it; the other is still open.
    assert!(closed_within(&mut idle[0], Duration::from_secs(60)).await);
    send_get(&mut idle[1], "/healthz").await;
    assert_eq!(read_response(&mut idle[1]).await.unwrap().status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // A header timeout far beyond the test's bound: only the idle timeout can close it.
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_HEADER_TIMEOUT_SECS", "600"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "1"),
        ],
    );
    let mut stream = connect_from(LOCALHOST, app.socket_addr()).await;
    send_get(&mut stream, "/healthz").await;
    assert_eq!(read_response(&mut stream).await.unwrap().status, 200);
    assert!(
        closed_within(&mut stream, Duration::from_secs(60)).await,
        "an idle keep-alive connection was kept open"
    );
}

#[tokio::test]
async fn a_declared_but_unsent_body_is_answered_408_and_its_connection_closed() {
    let app = spawn_app_env(1, &[("KEYWARD_BODY_TIMEOUT_SECS", "1")]);
    let mut stream = connect_from(LOCALHOST, app.socket_addr()).await;
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
        app.root_key()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Well before the 30 s request timeout, which is what used to answer it.
    let answer = tokio::time::timeout(Duration::from_secs(20), read_response(&mut stream))
        .await
        .expect("the unsent body held the connection")
        .expect("an answer");
    answer.assert_keyward_error(408, "request_timeout");
    assert!(closed_within(&mut stream, SAFETY).await);
}

/// Starts `POST /v1/keys` on a new connection from `source` and sends half its body; the rest
/// is returned for [`finish_slow_create`].
async fn start_slow_create(app: &TestApp, source: [u8; 4], name: &str) -> (TcpStream, String) {
    let body = format!(r#"{{"name": "{name}", "permissions": ["documents:read"]}}"#);
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = connect_from(source, app.socket_addr()).await;
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        app.root_key(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    (stream, rest.to_owned())
}

async fn finish_slow_create(stream: &mut TcpStream, rest: &str) {
    stream.write_all(rest.as_bytes()).await.unwrap();
    assert_eq!(read_response(stream).await.unwrap().status, 201);
}

#[tokio::test]
async fn a_newcomer_waiting_for_a_busy_server_takes_the_slot_of_the_first_connection_to_go_idle() {
    // The reviewer's case: every slot busy with a slow body, a newcomer arrives, then the busy
    // ones finish and stay idle on keep-alive. The newcomer must be served once they are idle,
    // not after the idle timeout (30 s here, beyond the 20 s this test waits), and never be
    // closed unanswered.
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTIONS", "8"),
            ("KEYWARD_MAX_CONNECTIONS_PER_ADDRESS", "8"),
            ("KEYWARD_HEADER_TIMEOUT_SECS", "600"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "30"),
            ("KEYWARD_BODY_TIMEOUT_SECS", "600"),
        ],
    );
    let addr = app.socket_addr().to_owned();
    let mut busy = Vec::new();
    for i in 0..8u8 {
        busy.push(start_slow_create(&app, [127, 0, 0, 10 + i], &format!("slow {i}")).await);
    }
    wait_for_log_count(&app, "request started method=POST route=/v1/keys", 8).await;
    let mut newcomer = connect_from([127, 0, 0, 30], &addr).await;
    send_get(&mut newcomer, "/healthz").await;
    wait_for_log_count(&app, "every connection slot is taken", 1).await;
    // The busy ones finish and stay open, idle.
    for (stream, rest) in &mut busy {
        finish_slow_create(stream, rest).await;
    }
    let answered = tokio::time::timeout(Duration::from_secs(20), read_response(&mut newcomer))
        .await
        .expect("the newcomer waited for the idle timeout instead of an idle connection's slot")
        .expect("the newcomer was closed without an answer");
    assert_eq!(answered.status, 200);
}

#[tokio::test]
async fn clients_sending_slow_request_after_slow_request_on_every_slot_do_not_lock_a_newcomer_out()
{
    // The reviewer's case: each of 4 addresses (one slot each, the per-address default with
    // 4 connections) drip-feeds one request body after another on its connection, each well
    // inside the body timeout, so no connection is ever idle; they reconnect when closed.
    // The connection age limit is far beyond the test: only making room can let the newcomer
    // in.
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTIONS", "4"),
            ("KEYWARD_HEADER_TIMEOUT_SECS", "600"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "600"),
            ("KEYWARD_BODY_TIMEOUT_SECS", "600"),
            ("KEYWARD_MAX_CONNECTION_AGE_SECS", "600"),
        ],
    );
    let addr = app.socket_addr().to_owned();
    let root_key = app.root_key().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicUsize::new(0));
    let mut drippers = Vec::new();
    for i in 0..4u8 {
        let (addr, root_key) = (addr.clone(), root_key.clone());
        let (stop, closed) = (Arc::clone(&stop), Arc::clone(&closed));
        drippers.push(tokio::spawn(async move {
            let mut stream = connect_from([127, 0, 0, 40 + i], &addr).await;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body =
                    format!(r#"{{"name": "drip {i} {n}", "permissions": ["documents:read"]}}"#);
                let head = format!(
                    "POST /v1/keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \
                     {root_key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                for chunk in body.as_bytes().chunks(body.len() / 4 + 1) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = stream.write_all(chunk).await;
                }
                let answer = read_response(&mut stream).await;
                let keeps_open = answer
                    .as_ref()
                    .is_some_and(|a| a.status == 201 && a.header("connection") != Some("close"));
                if !keeps_open {
                    closed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    stream = connect_from([127, 0, 0, 40 + i], &addr).await;
                }
            }
        }));
    }
    wait_for_log_count(&app, "request started method=POST route=/v1/keys", 4).await;
    let mut newcomer = connect_from([127, 0, 0, 50], &addr).await;
    send_get(&mut newcomer, "/healthz").await;
    let answered = tokio::time::timeout(Duration::from_secs(30), read_response(&mut newcomer))
        .await
        .ok()
        .flatten();
    stop.store(true, Ordering::Relaxed);
    for dripper in drippers {
        dripper.await.unwrap();
    }
    let answered = answered.expect("the newcomer was locked out by slow-request clients");
    assert_eq!(answered.status, 200);
    assert!(
        closed.load(Ordering::Relaxed) >= 1,
        "a busy connection was closed after its response to make room"
    );
}

#[tokio::test]
async fn a_connection_is_closed_after_its_maximum_age_however_busy_it_keeps() {
    let app = spawn_app_env(
        1,
        &[
            ("KEYWARD_MAX_CONNECTION_AGE_SECS", "1"),
            ("KEYWARD_HEADER_TIMEOUT_SECS", "600"),
            ("KEYWARD_IDLE_TIMEOUT_SECS", "600"),
        ],
    );
    let mut stream = connect_from(LOCALHOST, app.socket_addr()).await;
    // A request every 100 ms keeps it from ever idling out; only its age can close it.
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            send_get(&mut stream, "/healthz").await;
            match read_response(&mut stream).await {
                Some(response) => assert_eq!(response.status, 200),
                None => return,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection outlived its maximum age");
}
