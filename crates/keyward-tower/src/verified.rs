//! [`VerifiedKey`]: what the layer hands a handler about the key it accepted.

use chrono::{DateTime, Utc};
use keyward_client::api::VerifyResponse;
use serde_json::{Map, Value};

/// The key a request presented, as keyward accepted it. The layer puts it in the request's
/// extensions before the handler runs; take it with `Extension<VerifiedKey>`, or (with the
/// `axum` feature) as an extractor of its own. It never holds the key itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedKey {
    /// The key's id (public, safe to log and store).
    pub id: String,
    /// The key's name, e.g. `Stripe invoice sending`.
    pub name: String,
    /// The owner the key was issued to, if it was given one.
    pub owner_id: Option<String>,
    /// Every permission the key holds, not only the one the route required.
    pub permissions: Vec<String>,
    /// The metadata stored with the key.
    pub metadata: Map<String, Value>,
    /// When the key expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// Credits left after this request, for a key with credits.
    pub credits: Option<u64>,
    /// Whether this answer came from the layer's cache instead of keyward.
    pub cached: bool,
}

impl VerifiedKey {
    /// A key with this id and name and nothing else: for a handler's own tests, which put it
    /// in the request's extensions as the layer would (the other fields are public to set).
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            owner_id: None,
            permissions: Vec::new(),
            metadata: Map::new(),
            expires_at: None,
            credits: None,
            cached: false,
        }
    }

    /// The key described by a `VALID` answer; `None` if the answer lacks the key's id or name,
    /// which keyward always sends with `VALID` (so the layer fails closed).
    pub(crate) fn from_answer(answer: VerifyResponse) -> Option<Self> {
        Some(Self {
            id: answer.key_id?,
            name: answer.name?,
            owner_id: answer.owner_id,
            permissions: answer.permissions.unwrap_or_default(),
            metadata: answer.metadata.unwrap_or_default(),
            expires_at: answer.expires_at,
            credits: answer.credits,
            cached: false,
        })
    }
}
