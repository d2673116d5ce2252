//! Time in the dashboard's core, on a manual clock: a session ends after 30 idle minutes and
//! 12 hours after sign-in however active; a handover link ends at its lifetime; pruning then
//! removes both rows.

use crate::audit::router_harness::harness;
use chrono::Duration;
use keyward_app::rights::KeysWrite;
use keyward_core::{ApiKey, KeyHash};

#[tokio::test]
async fn a_session_ends_after_30_idle_minutes_or_12_hours_and_a_link_at_its_lifetime() {
    let h = harness().await;
    let root = ApiKey::parse(&h.root_key).unwrap();
    let app = &h.state;

    let idle = app.sign_in(&root).await.unwrap();
    h.clock.advance(Duration::minutes(29));
    assert!(app.session(&idle.token).await.unwrap().is_some());
    // Its use just now counts: 29 more minutes are fine, 31 without use are not.
    h.clock.advance(Duration::minutes(29));
    assert!(app.session(&idle.token).await.unwrap().is_some());
    h.clock.advance(Duration::minutes(31));
    assert!(app.session(&idle.token).await.unwrap().is_none());

    let busy = app.sign_in(&root).await.unwrap();
    for _ in 0..(12 * 60 / 20 - 1) {
        h.clock.advance(Duration::minutes(20));
        assert!(app.session(&busy.token).await.unwrap().is_some());
    }
    h.clock.advance(Duration::minutes(20));
    assert!(
        app.session(&busy.token).await.unwrap().is_none(),
        "12 hours after sign-in the session ends, however active"
    );

    let principal = app.sign_in(&root).await.unwrap().principal;
    let caller = principal.authorize::<KeysWrite>().unwrap();
    let (key_id, key) = h.new_key("Billing Service", &["invoices:read"]).await;
    crate::helpers::remember_secret(&key);
    let key = ApiKey::parse(&key).unwrap();
    let link = app
        .create_handover(&caller, &key_id, &key, Duration::hours(1))
        .await
        .unwrap();
    let secret = secrecy::ExposeSecret::expose_secret(&link.secret).to_owned();
    // Not for another key's secret, nor beyond seven days.
    let other = h.new_key("Shipping Service", &[]).await.1;
    crate::helpers::remember_secret(&other);
    let other = ApiKey::parse(&other).unwrap();
    assert!(app
        .create_handover(&caller, &key_id, &other, Duration::hours(1))
        .await
        .is_err());
    assert!(app
        .create_handover(&caller, &key_id, &key, Duration::days(8))
        .await
        .is_err());
    h.clock.advance(Duration::minutes(61));
    assert!(app
        .open_handover(&link.id, &secret, None)
        .await
        .unwrap()
        .is_none());

    keyward_app::maintenance::prune_dashboard(app).await;
    let store = app.store();
    assert!(store.handover(&link.id).await.unwrap().is_none());
    assert!(store
        .session(&KeyHash::of(busy.token.expose()))
        .await
        .unwrap()
        .is_none());
}
