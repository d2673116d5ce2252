//! Nothing is answered unrecorded: with the store's writes failing, as a full or broken disk
//! would make them, verifications and changes are refused with `503`.

use crate::audit::router_harness::{assert_valid, harness, names};
use crate::audit::support::{STRIPE, XERO};
use crate::helpers::unissued_key;
use axum::http::StatusCode;
use serde_json::json;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn storage_failures_refuse_verifications_and_changes_with_503() {
    let h = harness().await;
    let (id, stripe) = h.new_key(STRIPE, &["invoices:delete"]).await;
    let shown = h.get(&format!("/v1/keys/{id}")).await.expect(200).clone();
    let events_before = h.events("").await;

    h.fault.store(true, Ordering::SeqCst);
    let mut refused = vec![
        h.verify(&stripe, "invoices:delete", "down-valid").await,
        h.verify(&stripe, "payroll:read", "down-refused").await,
        h.verify(&unissued_key("bos"), "invoices:delete", "down-unknown")
            .await,
        h.post("/v1/keys", &json!({"name": XERO})).await,
        h.patch(
            &format!("/v1/keys/{id}"),
            &json!({"name": "Stripe Invoice Sync EU"}),
        )
        .await,
        h.post(&format!("/v1/keys/{id}/revoke"), &json!({})).await,
        h.post(&format!("/v1/keys/{id}/rotate"), &json!({})).await,
        h.post(
            "/v1/root-keys",
            &json!({"name": "Audit Reader Root Key", "permissions": ["audit:read"]}),
        )
        .await,
        h.patch("/v1/workspace", &json!({"verification_audit": "none"}))
            .await,
    ];
    // Concurrent verifications share one failed commit: every one of them is refused.
    let batch = (0..20).map(|i| {
        let h = &h;
        let key = stripe.clone();
        async move {
            h.verify(&key, "invoices:delete", &format!("down-batch-{i}"))
                .await
        }
    });
    refused.extend(futures_util::future::join_all(batch).await);
    for reply in &refused {
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.text
        );
        assert!(reply.content_type.starts_with("application/json"));
        let error = reply.json["error"].as_object().expect("the error body");
        assert_eq!(
            reply.json.as_object().map(|o| o.len()),
            Some(1),
            "{}",
            reply.text
        );
        assert_eq!(error.len(), 2, "{}", reply.text);
        assert_eq!(error["code"], "unavailable");
        assert!(!error["message"].as_str().expect("a message").is_empty());
        for secret in [stripe.as_str(), h.root_key.as_str(), "injected", "disk I/O"] {
            assert!(!reply.text.contains(secret), "{}", reply.text);
        }
    }
    // Nothing changed, and reads still work.
    assert_eq!(
        h.get(&format!("/v1/keys/{id}")).await.expect(200)["name"],
        shown["name"]
    );
    assert_eq!(
        h.get("/v1/keys").await.expect(200)["keys"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        h.get("/v1/workspace").await.expect(200)["verification_audit"],
        "all"
    );
    assert_eq!(h.events("").await, events_before);

    // With verifications not recorded, there is nothing to fail: they are answered.
    h.fault.store(false, Ordering::SeqCst);
    h.patch("/v1/workspace", &json!({"verification_audit": "none"}))
        .await
        .expect(200);
    h.fault.store(true, Ordering::SeqCst);
    assert_eq!(
        h.verify_code(&stripe, "invoices:delete", "none-while-down")
            .await,
        "VALID"
    );

    h.fault.store(false, Ordering::SeqCst);
    h.patch("/v1/workspace", &json!({"verification_audit": "all"}))
        .await
        .expect(200);
    assert_eq!(
        h.verify_code(&stripe, "invoices:delete", "back-up").await,
        "VALID"
    );
    h.post(&format!("/v1/keys/{id}/revoke"), &json!({}))
        .await
        .expect(200);
    assert_eq!(
        h.verify_code(&stripe, "invoices:delete", "revoked").await,
        "REVOKED"
    );
    assert_eq!(
        h.resources("kind=key.verified").await,
        names(&["back-up", "revoked"]),
        "only answered verifications are recorded"
    );
    let all = h.events("").await;
    assert_valid(&h.chain().await, all.len(), None);
}
