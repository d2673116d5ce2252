//! `GET /v1/audit/verify` over HTTP: the answer says how far the chain is verified
//! (`status`, `verified_seq`, `head_seq`), `?full=true` starts a whole re-verification whose
//! progress the next answers show, and anything but a boolean is refused.

use crate::audit::support::{chain, STRIPE};
use crate::helpers::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn the_chain_check_says_how_far_it_verified_and_full_reverifies_in_the_background() {
    let app = spawn_app();
    let api = app.api();
    let key = api.new_key(STRIPE, &["invoices:delete"]).await;
    api.verify(&key.key, None).await;
    let check = chain(&api).await;
    assert_eq!(check["valid"], json!(true), "{check}");
    assert_eq!(check["status"], json!("verified"), "{check}");
    assert_eq!(check["verified_seq"], check["head_seq"], "{check}");
    assert_eq!(check["unverified_events"], json!(0), "{check}");
    assert!(check.get("full_check").is_none(), "{check}");

    let started = api
        .get("/v1/audit/verify?full=true")
        .await
        .expect(200)
        .clone();
    assert!(started["full_check"]["running"].is_boolean(), "{started}");
    // The whole re-verification of a short chain ends at once; the answers then show it.
    let mut finished: Option<Value> = None;
    for _ in 0..100 {
        let check = chain(&api).await;
        if check["full_check"]["running"] == json!(false) {
            finished = Some(check);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let finished = finished.expect("the whole re-verification finished");
    assert_eq!(finished["full_check"]["valid"], json!(true), "{finished}");
    let head = finished["head_seq"].as_u64().expect("a head");
    assert!(
        finished["full_check"]["checked"].as_u64() >= Some(head),
        "{finished}"
    );

    api.get("/v1/audit/verify?full=yes")
        .await
        .expect_error(400, "bad_request");
}
