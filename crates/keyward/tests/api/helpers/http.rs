//! The suite's HTTP client, over `keyward-client`: `Api` (requests as one credential, typed
//! helpers for the key routes) and `Answer` (status, headers, body, with assertions on error
//! bodies). Bodies a test writes itself (bad input among them) go through
//! `Client::request`/`send_raw` so they reach the server as written; every answer, raw or
//! typed, passes the secret check of [`super::secrets::check_answer`].

use super::secrets::check_answer;
use keyward_client::api::CreateKeyRequest;
use keyward_client::header::{HeaderMap, CONTENT_TYPE};
use keyward_client::{Client, Error, Method, RequestBuilder, SecretString, StatusCode};
use serde_json::{json, Value};
use std::borrow::Cow;

/// Requests to a running server with one credential: the app's own client (borrowed), or a
/// copy presenting another credential over the same connection pool.
pub struct Api<'a> {
    client: Cow<'a, Client>,
}

impl<'a> Api<'a> {
    /// Requests through `client`, with its credential (none: no `Authorization` header).
    pub fn new(client: Cow<'a, Client>) -> Self {
        Self { client }
    }

    /// Requests to the server at `address` with `token` as the bearer credential, over a
    /// client of their own (for a server the suite did not start through `TestApp`).
    pub fn at(address: &str, token: Option<&str>) -> Api<'static> {
        let client = Client::anonymous(address).expect("a server address");
        Api::new(Cow::Owned(match token {
            Some(token) => with_token(&client, token),
            None => client,
        }))
    }

    /// The `keyward-client` this sends through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A request to `path` with this credential, to finish and hand to [`Api::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, path)
    }

    /// Sends `request` and returns the answer whatever its status.
    pub async fn send(&self, request: RequestBuilder) -> Answer {
        let response = self
            .client
            .send_raw(request)
            .await
            .expect("the request reached the server");
        Answer::new(response.status, response.headers, response.text)
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    /// `body` sent as is, with `Content-Type: application/json`.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        self.send(
            self.request(Method::POST, path)
                .header(CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
    }

    pub async fn create_key(&self, body: &Value) -> Answer {
        self.post("/v1/keys", body).await
    }

    /// Creates a key from `body`, asserting `201`; returns the response body.
    pub async fn create_key_ok(&self, body: &Value) -> Value {
        self.create_key(body).await.expect(201).clone()
    }

    /// Creates a key named `name` with `permissions` through the typed call, asserting `201`.
    pub async fn new_key(&self, name: &str, permissions: &[&str]) -> NewKey {
        let request = CreateKeyRequest {
            name: name.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..CreateKeyRequest::default()
        };
        let (answer, created) = match self.client.create_key(&request).await {
            Ok(reply) => (
                Answer::new(reply.status, reply.headers, reply.raw),
                Some(reply.value),
            ),
            Err(Error::Api(refused)) => (
                Answer::new(refused.status, HeaderMap::new(), refused.body),
                None,
            ),
            Err(other) => panic!("the request reached the server: {other}"),
        };
        let body = answer.expect(201).clone();
        let created = created.expect("a 201 carries the created key");
        assert_eq!(body["key"], created.key, "typed and raw bodies disagree");
        NewKey {
            id: created.record.id,
            key: created.key,
            body,
        }
    }

    pub async fn list_keys(&self, query: &str) -> Answer {
        self.get(&format!("/v1/keys{query}")).await
    }

    /// Every key id the list shows for `query` (`""` or `"?owner_id=…"`), following cursors.
    pub async fn list_all_ids(&self, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let join = if query.is_empty() { "?" } else { "&" };
        loop {
            let page_query = match &cursor {
                Some(c) => format!("{query}{join}limit=100&cursor={c}"),
                None => format!("{query}{join}limit=100"),
            };
            let answer = self.list_keys(&page_query).await;
            let body = answer.expect(200);
            ids.extend(key_ids(body));
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    pub async fn show_key(&self, id: &str) -> Answer {
        self.get(&format!("/v1/keys/{id}")).await
    }

    pub async fn update_key(&self, id: &str, body: &Value) -> Answer {
        self.patch(&format!("/v1/keys/{id}"), body).await
    }

    pub async fn revoke_key(&self, id: &str, reason: Option<&str>) -> Answer {
        let body = match reason {
            Some(reason) => json!({ "reason": reason }),
            None => json!({}),
        };
        self.post(&format!("/v1/keys/{id}/revoke"), &body).await
    }

    pub async fn rotate_key(&self, id: &str, grace_period_seconds: u64) -> Answer {
        self.post(
            &format!("/v1/keys/{id}/rotate"),
            &json!({ "grace_period_seconds": grace_period_seconds }),
        )
        .await
    }

    pub async fn verify(&self, key: &str, permission: Option<&str>) -> Answer {
        let body = match permission {
            Some(permission) => json!({ "key": key, "permission": permission }),
            None => json!({ "key": key }),
        };
        self.post("/v1/verify", &body).await
    }

    /// The verification `code`, asserting `200` and that `valid` agrees with it.
    pub async fn verify_code(&self, key: &str, permission: Option<&str>) -> String {
        let answer = self.verify(key, permission).await;
        let body = answer.expect(200);
        let code = body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("verify answered no code: {body}"));
        assert_eq!(
            body["valid"],
            json!(code == "VALID"),
            "`valid` disagrees with `code`: {body}"
        );
        code.to_owned()
    }

    pub async fn create_root_key(&self, name: &str, permissions: &[&str]) -> Answer {
        self.post(
            "/v1/root-keys",
            &json!({ "name": name, "permissions": permissions }),
        )
        .await
    }
}

/// A key as create answered it.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    /// The plaintext, shown only once.
    pub key: String,
    pub body: Value,
}

impl From<&Value> for NewKey {
    fn from(body: &Value) -> Self {
        let text = |field: &str| {
            body[field]
                .as_str()
                .unwrap_or_else(|| panic!("created key lacks {field:?}: {body}"))
                .to_owned()
        };
        Self {
            id: text("id"),
            key: text("key"),
            body: body.clone(),
        }
    }
}

/// What a key's body says about its settings: everything but the plaintext `key`, the
/// usage figures (`last_used_at`, `verification_count`) that every verification moves and
/// the safety advice (`GET /v1/keys/{id}` only, judged at each read).
pub fn settings(body: &Value) -> Value {
    let mut record = body.clone();
    if let Some(object) = record.as_object_mut() {
        for moving in ["key", "last_used_at", "verification_count", "advice"] {
            object.remove(moving);
        }
    }
    record
}

/// The ids in a `GET /v1/keys` body, in order.
pub fn key_ids(list: &Value) -> Vec<String> {
    list["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("a key list without `keys`: {list}"))
        .iter()
        .map(|k| {
            k["id"]
                .as_str()
                .unwrap_or_else(|| panic!("a listed key without id: {k}"))
                .to_owned()
        })
        .collect()
}

/// A finished response: status, headers and body (parsed as JSON when it is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

/// `client` presenting `token` instead of its own credential.
pub fn with_token(client: &Client, token: &str) -> Client {
    client
        .with_root_key(SecretString::from(token.to_owned()))
        .expect("a token an HTTP header can carry")
}

impl Answer {
    /// An answer as received: checked for secrets, its body parsed as JSON when it is JSON.
    #[track_caller]
    pub fn new(status: StatusCode, headers: HeaderMap, text: String) -> Self {
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        check_answer(status.as_u16(), &text, &json);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    /// Asserts the status and the error body `{"error": {"code", "message"}}` (and nothing
    /// else); returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        self.expect(status);
        let content_type = self.header("content-type");
        assert!(
            content_type.starts_with("application/json"),
            "an error must be JSON, got Content-Type {content_type:?}: {}",
            self.text
        );
        let object = self
            .json
            .as_object()
            .unwrap_or_else(|| panic!("error body is not an object: {}", self.text));
        assert_eq!(
            object.len(),
            1,
            "error body has more than `error`: {}",
            self.text
        );
        let error = self.json["error"]
            .as_object()
            .unwrap_or_else(|| panic!("error body lacks an `error` object: {}", self.text));
        assert_eq!(
            error.len(),
            2,
            "`error` must hold exactly code and message: {}",
            self.text
        );
        assert_eq!(
            self.json["error"]["code"],
            json!(code),
            "error code; body: {}",
            self.text
        );
        let message = self.json["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error without a message: {}", self.text));
        assert!(!message.trim().is_empty(), "empty error message");
        message.to_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_no_store(&self) {
        assert_eq!(
            self.header("cache-control"),
            "no-store",
            "a response carrying a key must not be cached: {}",
            self.text
        );
    }
}
