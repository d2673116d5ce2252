//! `GET /openapi.json`: served without a root key, and the same document as the committed
//! `openapi.json`.

use crate::helpers::spawn_app;
use keyward_client::Method;

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_needs_no_root_key() {
    let app = spawn_app();
    let answer = app
        .anonymous()
        .send(app.anonymous().request(Method::GET, "/openapi.json"))
        .await;
    answer.expect(200);
    assert!(answer
        .header("content-type")
        .starts_with("application/json"));
    answer.assert_no_store();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"))
            .unwrap();
    assert_eq!(answer.text, committed);
    assert_eq!(answer.json["openapi"], "3.1.0");
    assert!(answer.json["paths"]["/v1/verify"]["post"].is_object());
}
