//! Root keys cannot lock a workspace's owners out: a root key revokes only root keys whose
//! rights it holds entirely, and the last one holding `*` is revoked by nobody but itself.

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn new_root(app: &TestApp, name: &str, rights: &[&str]) -> (String, String) {
    let created = app
        .api()
        .create_root_key(name, rights)
        .await
        .expect(201)
        .clone();
    let field = |f: &str| created[f].as_str().unwrap().to_owned();
    (field("id"), field("key"))
}

fn initial_root_id(roots: &Value) -> String {
    roots
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Initial root key")
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_root_key_revokes_only_root_keys_whose_rights_it_holds_entirely() {
    let app = spawn_app();
    let roots = app.api().get("/v1/root-keys").await.expect(200).clone();
    let initial = initial_root_id(&roots);
    let (_, admin) = new_root(&app, "Root Key Administration Only", &["root_keys:write"]).await;
    let (reader_id, _) = new_root(
        &app,
        "Support Root Key Manager",
        &["root_keys:write", "keys:read"],
    )
    .await;
    let (peer_id, _) = new_root(&app, "Second Root Key Administrator", &["root_keys:write"]).await;
    let admin = app.as_root(&admin);

    // The lockout the review found: a root_keys:write key revoking the initial `*` key.
    let refused = admin
        .post(&format!("/v1/root-keys/{initial}/revoke"), &json!({}))
        .await
        .expect_error(403, "forbidden");
    assert!(refused.contains("\"*\""), "{refused}");
    let refused = admin
        .post(&format!("/v1/root-keys/{reader_id}/revoke"), &json!({}))
        .await
        .expect_error(403, "forbidden");
    assert!(refused.contains("keys:read"), "{refused}");
    // A key with no more rights than the revoker's may go.
    let revoked = admin
        .post(&format!("/v1/root-keys/{peer_id}/revoke"), &json!({}))
        .await
        .expect(200)
        .clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // The owners still hold their keys: the initial key works and is not revoked.
    app.api().list_keys("").await.expect(200);
    let roots = app.api().get("/v1/root-keys").await.expect(200).clone();
    let initial_now = roots
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == initial.as_str())
        .unwrap();
    assert!(initial_now["revoked_at"].is_null(), "{roots}");
    // A refused revocation changes nothing and records nothing.
    let audit = app
        .api()
        .get("/v1/audit?kind=root_key.revoked")
        .await
        .expect(200)
        .clone();
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
}

#[tokio::test]
async fn two_all_rights_root_keys_revoking_each_other_at_once_never_both_go() {
    let app = spawn_app();
    let roots = app.api().get("/v1/root-keys").await.expect(200).clone();
    let mut survivor = (initial_root_id(&roots), app.root_key().to_owned());
    for round in 0..8 {
        let (other_id, other_key) =
            new_root_as(&app, &survivor.1, &format!("Owner Root Key Round {round}")).await;
        let (a, b) = (app.as_root(&survivor.1), app.as_root(&other_key));
        let (a_path, b_path) = (
            format!("/v1/root-keys/{other_id}/revoke"),
            format!("/v1/root-keys/{}/revoke", survivor.0),
        );
        let empty = json!({});
        let (by_a, by_b) = tokio::join!(a.post(&a_path, &empty), b.post(&b_path, &empty));
        let statuses = (by_a.status.as_u16(), by_b.status.as_u16());
        assert!(
            statuses == (200, 401)
                || statuses == (401, 200)
                || statuses == (200, 403)
                || statuses == (403, 200),
            "round {round}: exactly one revocation goes through: {statuses:?}"
        );
        if statuses.0 != 200 {
            survivor = (other_id, other_key);
        }
        // Whoever is left still holds `*` and can act.
        app.as_root(&survivor.1).list_keys("").await.expect(200);
    }
}

/// A new `*` root key created by the root key `creator`.
async fn new_root_as(app: &TestApp, creator: &str, name: &str) -> (String, String) {
    let created = app
        .as_root(creator)
        .create_root_key(name, &["*"])
        .await
        .expect(201)
        .clone();
    let field = |f: &str| created[f].as_str().unwrap().to_owned();
    (field("id"), field("key"))
}
