//! keyward's gateway: a reverse proxy for services in any language. Each request's route
//! (method + path pattern, from a TOML file: [`GatewayConfig`]) names the permission it
//! needs; the key is verified in process through the application core
//! ([`keyward_app::Keyward::verify`], the same index, rate limits, credits and audit events as
//! `POST /v1/verify`), stripped, and the request forwarded to the upstream with the verified
//! key named in `X-Keyward-Key-Id`, `-Key-Name` and `-Key-Owner`.
//!
//! - `config.rs`: the file, parsed into typed fields; `routes.rs`: the route table;
//! - `gateway.rs`: one request, route → key → verify → forward;
//! - `client_ip.rs`: the socket's peer, or `X-Forwarded-For` from a trusted proxy only;
//! - `headers.rs`: what the upstream sees; `proxy.rs`: the pooled, streaming, timed client;
//! - `answer.rs`: the gateway's own answers; `serve.rs`: the accept loop.
//!
//! It depends on the application core, never on a storage engine: the binary opens the
//! database and hands over a loaded [`keyward_app::Keyward`].

mod answer;
mod body;
mod client_ip;
pub mod config;
mod gateway;
mod headers;
mod proxy;
mod routes;
mod serve;

pub use answer::Refusal;
pub use body::GatewayBody;
pub use config::{Access, ConfigError, GatewayConfig, KeyHeader};
pub use gateway::{Gateway, GatewayError};
pub use headers::{KEY_ID, KEY_NAME, KEY_OWNER};
pub use routes::{RouteError, RouteTable};
pub use serve::{serve, GatewayLimits};
