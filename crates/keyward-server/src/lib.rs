//! keyward's HTTP server: the axum router, the handlers of `/v1`, root-key authentication
//! and the in-memory index that answers verifications without touching storage.
//!
//! The `keyward` binary (its own crate) parses the command line and binds; [`serve`] runs a
//! bound listener until shutdown;
//! [`router`] builds the `Router` that tests can drive directly.

pub mod anchor_key;
pub mod anchors;
pub mod audit_check;
pub mod auth;
pub mod bootstrap;
pub mod conn_bodies;
pub mod conn_io;
pub mod connections;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod headers;
pub mod index;
pub mod limits;
pub mod maintenance;
pub mod retention;
pub mod server;
pub mod state;
pub mod usage;
pub mod views;

pub use server::{router, serve, serve_with, ServeLimits};
pub use state::AppState;
