//! A root key made for a leak test, with its id and plaintext.

use crate::helpers::TestApp;

pub(crate) async fn root_key(app: &TestApp, name: &str, rights: &[&str]) -> (String, String) {
    let created = app
        .api()
        .create_root_key(name, rights)
        .await
        .expect(201)
        .clone();
    let field = |f: &str| created[f].as_str().unwrap().to_owned();
    (field("id"), field("key"))
}
