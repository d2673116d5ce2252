//! A [tower] layer that puts keyward in front of an axum or hyper service: each request's
//! API key is checked with keyward's `POST /v1/verify` for the permission its route
//! requires, and the handler receives the verified key.
//!
//! - The key is read from `Authorization: Bearer …`, or from a header you name
//!   ([`KeywardAuthBuilder::key_header`]), and removed before the handler runs.
//! - Each route requires its own permission ([`KeywardAuth::require`]); add the layer with
//!   axum's `route_layer`, so a path that matches no route stays a `404`.
//! - keyward records each verification in its audit trail with the client IP (the
//!   connection's address, or [`KeywardAuthBuilder::client_ip`]), the `Origin` and
//!   `User-Agent` headers, and an action and resource: the method and the path by default,
//!   anything with [`KeywardAuthBuilder::audit_context`].
//! - A refused request gets a JSON error (`{"error": {"code", "message"}}`) — `401` with
//!   `WWW-Authenticate` for a missing or refused key, `403` for a missing permission or a
//!   disallowed IP or origin, `429` with `Retry-After` for a spent rate limit or credits —
//!   and never reaches the handler ([`Refusal`]).
//! - It fails closed: when keyward cannot be reached, does not answer in time
//!   ([`KeywardAuthBuilder::timeout`]), or answers anything but a verify answer, the request
//!   gets `503` with `Retry-After`.
//! - The handler gets a [`VerifiedKey`] (id, name, owner, permissions, metadata) from the
//!   request's extensions: `Extension<VerifiedKey>`, or `VerifiedKey` itself as an extractor
//!   with the `axum` feature (on by default).
//! - Positive answers can be cached ([`PositiveCache`], off by default): a revoked key is
//!   then still accepted until its cached answer's time to live ends, and cached requests
//!   are not in the audit trail.
//!
//! ```no_run
//! use axum::routing::{delete, get};
//! use axum::Router;
//! use keyward_tower::{KeywardAuth, VerifiedKey};
//! use keyward_client::{Client, SecretString};
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! async fn list(key: VerifiedKey) -> String {
//!     format!("invoices for {}", key.name)
//! }
//!
//! async fn remove(key: VerifiedKey) -> String {
//!     format!("deleted by {}", key.name)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // A root key with the `keys:verify` right, from the environment.
//! let root_key = SecretString::from(std::env::var("KEYWARD_ROOT_KEY")?);
//! let keyward = Client::new("http://127.0.0.1:8080", root_key)?;
//! let auth = KeywardAuth::builder(keyward)
//!     .timeout(Duration::from_secs(2))
//!     .build();
//!
//! let app = Router::new()
//!     .route("/invoices", get(list).route_layer(auth.require("invoices:read")))
//!     .route("/invoices/{id}", delete(remove).route_layer(auth.require("invoices:delete")));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // The connection's address is the client IP keyward checks and records.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The layer works with any `tower` service over `http` requests whose response body can
//! be made from a `String` (axum's `Body`, `http_body_util::Full<Bytes>`, …).

#![warn(missing_docs)]

mod auth;
mod cache;
#[cfg(feature = "axum")]
mod extract;
mod layer;
mod refusal;
mod request;
mod verified;

pub use auth::{KeywardAuth, KeywardAuthBuilder};
pub use cache::PositiveCache;
#[cfg(feature = "axum")]
pub use extract::NotProtected;
pub use layer::{RequireKey, RequireKeyLayer};
pub use refusal::Refusal;
pub use request::AuditContext;
pub use verified::VerifiedKey;

/// The client the layer asks keyward with, so callers need not depend on it themselves.
pub use keyward_client as client;
