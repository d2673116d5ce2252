//! keyward's HTTP edge: the axum router, the thin handlers of `/v1` (wire types in, the
//! application core `keyward_app::Keyward` called, wire types out), root-key authentication,
//! the one `ApiError`, and the connection handling of `serve`.
//!
//! The `keyward` binary (its own crate) parses the command line and binds; [`serve`] runs a
//! bound listener until shutdown; [`router`] builds the `Router` that tests can drive
//! directly. The dashboard (`keyward-ui`) is mounted under `/ui`.

pub mod auth;
pub mod client_addr;
pub mod conn_bodies;
pub mod conn_io;
pub mod connections;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod headers;
pub mod observe;
pub mod openapi;
pub mod requests;
pub mod server;
pub mod starting;
pub mod tls;
pub mod views;

pub use client_addr::TrustedProxies;
pub use keyward_ui::UiConfig;
pub use server::{
    openapi, router, router_with_ui, serve, serve_router, serve_router_over, serve_with,
    serve_with_transport, ServeLimits, Transport,
};
pub use tls::Tls;
