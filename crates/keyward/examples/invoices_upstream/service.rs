//! The "invoices" service of the gateway example: a plain HTTP API that knows nothing of API
//! keys. `keyward gateway` runs in front of it (`examples/gateway/invoices.toml`): listing
//! needs `invoices:read`, deleting `invoices:delete`, and the service learns who called from
//! the `X-Keyward-Key-Name` header the gateway sets (and strips from every client request).
//! The end-to-end test `tests/api/gateway/example.rs` runs this same file.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The invoices, and who deleted which (by the key name the gateway vouched for).
#[derive(Clone, Default)]
pub struct Invoices {
    open: Arc<Mutex<BTreeMap<u64, String>>>,
    pub deleted_by: Arc<Mutex<Vec<(u64, String)>>>,
}

impl Invoices {
    /// A few invoices to list and delete.
    pub fn sample() -> Self {
        let invoices = Self::default();
        if let Ok(mut open) = invoices.open.lock() {
            for (id, customer) in [(41, "Acme Ltd"), (42, "Globex"), (43, "Initech")] {
                open.insert(id, customer.to_owned());
            }
        }
        invoices
    }
}

/// `GET /invoices` and `DELETE /invoices/{id}`.
pub fn router(invoices: Invoices) -> Router {
    Router::new()
        .route("/invoices", get(list))
        .route("/invoices/{id}", delete(remove))
        .with_state(invoices)
}

async fn list(State(invoices): State<Invoices>) -> Json<Value> {
    let open = invoices
        .open
        .lock()
        .map(|open| open.clone())
        .unwrap_or_default();
    let list: Vec<Value> = open
        .iter()
        .map(|(id, customer)| json!({"id": id, "customer": customer}))
        .collect();
    Json(json!({ "invoices": list }))
}

async fn remove(
    State(invoices): State<Invoices>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> StatusCode {
    let caller = headers
        .get("x-keyward-key-name")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    let removed = invoices
        .open
        .lock()
        .map(|mut open| open.remove(&id).is_some())
        .unwrap_or(false);
    if !removed {
        return StatusCode::NOT_FOUND;
    }
    if let Ok(mut deleted) = invoices.deleted_by.lock() {
        deleted.push((id, caller));
    }
    StatusCode::NO_CONTENT
}
