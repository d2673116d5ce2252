//! The invoices service the example protects: an in-memory list of invoices with a route to
//! list them and one to delete one. The routes know nothing of keys; `router` puts the
//! permission each requires in front of it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use keyward_tower::{KeywardAuth, VerifiedKey};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The invoices, by number, each with its amount in cents.
#[derive(Clone, Default)]
pub struct Invoices(Arc<Mutex<BTreeMap<String, u64>>>);

impl Invoices {
    /// A few invoices to start with.
    pub fn sample() -> Self {
        let invoices = [("INV-1", 12_000), ("INV-2", 4_550), ("INV-3", 99_900)];
        let map = invoices
            .into_iter()
            .map(|(number, cents)| (number.to_owned(), cents))
            .collect();
        Self(Arc::new(Mutex::new(map)))
    }

    fn numbers(&self) -> Vec<String> {
        match self.0.lock() {
            Ok(map) => map.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        }
    }

    fn remove(&self, number: &str) -> Option<u64> {
        match self.0.lock() {
            Ok(mut map) => map.remove(number),
            Err(poisoned) => poisoned.into_inner().remove(number),
        }
    }
}

/// `GET /invoices` needs `invoices:read`, `DELETE /invoices/{number}` `invoices:delete`.
pub fn router(auth: &KeywardAuth, invoices: Invoices) -> Router {
    Router::new()
        .route(
            "/invoices",
            get(list).route_layer(auth.require("invoices:read")),
        )
        .route(
            "/invoices/{number}",
            delete(remove).route_layer(auth.require("invoices:delete")),
        )
        .with_state(invoices)
}

async fn list(State(invoices): State<Invoices>, key: VerifiedKey) -> Json<Value> {
    Json(json!({ "invoices": invoices.numbers(), "seen_by": key.name }))
}

async fn remove(
    State(invoices): State<Invoices>,
    Path(number): Path<String>,
    key: VerifiedKey,
) -> (StatusCode, Json<Value>) {
    match invoices.remove(&number) {
        Some(_) => (
            StatusCode::OK,
            Json(json!({ "deleted": number, "deleted_by": key.name })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": { "code": "not_found", "message": "no such invoice" } })),
        ),
    }
}
