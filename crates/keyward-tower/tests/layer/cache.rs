//! The positive cache, when turned on: what it saves and the revocation delay it allows.

use crate::app::{self, create_key, verifications};
use crate::server;
use keyward_tower::client::StatusCode;
use keyward_tower::{KeywardAuth, PositiveCache};
use std::time::Duration;

fn cached_auth(server: &server::TestServer, ttl: Duration) -> KeywardAuth {
    KeywardAuth::builder(app::keyward_client(&server.url, &server.root_key))
        .cache(PositiveCache::new(100, ttl))
        .build()
}

#[tokio::test]
async fn a_cached_answer_accepts_a_revoked_key_until_its_time_to_live_ends() {
    let server = server::start().await;
    let (key, id) = create_key(&server, "Stripe invoice sending", &["invoices:read"]).await;
    let (other, _) = create_key(&server, "Payroll export", &["payroll:read"]).await;
    let long = app::serve(app::whoami(&cached_auth(
        &server,
        Duration::from_secs(3600),
    )))
    .await;
    let short = app::serve(app::whoami(&cached_auth(
        &server,
        Duration::from_millis(300),
    )))
    .await;

    for app in [&long, &short] {
        let first = app.get("/whoami", Some(&key)).await;
        assert_eq!(first.json().unwrap()["cached"], false);
        let second = app.get("/whoami", Some(&key)).await;
        assert_eq!(second.json().unwrap()["cached"], true);
        // Refusals are never cached: each is asked again.
        assert_eq!(
            app.get("/whoami", Some(&other)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get("/whoami", Some(&other)).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        verifications(&server, &id).await.len(),
        2,
        "a cached answer does not reach keyward's audit trail"
    );

    app::revoke(&server, &id).await;
    let still = long.get("/whoami", Some(&key)).await;
    assert_eq!(
        still.status,
        StatusCode::OK,
        "the documented revocation delay"
    );
    assert_eq!(still.json().unwrap()["cached"], true);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = short.get("/whoami", Some(&key)).await;
    // Asked again after the time to live.
    app::assert_refused(&refused, StatusCode::UNAUTHORIZED, "invalid_key");
}
