//! A typed async client for keyward's HTTP API: every route of `/v1` and the probes, the wire
//! types of [`keyward_api`], and typed errors ([`Error`]: the server's error with its status,
//! code, message and `Retry-After`; no answer; an answer that is not keyward's). It never
//! prints or logs, and the root key it holds appears in no `Debug` output and no error.
//!
//! Every call returns a [`Reply`]: the typed body (`value`) and the body exactly as the
//! server sent it (`raw`). [`Client::request`] builds any other request, and
//! [`Client::send_raw`] returns any answer with its status, headers and body.
//! [`Client::with_root_key`] acts as another root key over the same connection pool.
//!
//! ```no_run
//! use keyward_client::api::{CreateKeyRequest, VerifyCode, VerifyRequest};
//! use keyward_client::{Client, Error, SecretString};
//!
//! # async fn run() -> Result<(), Error> {
//! let root_key = SecretString::from(std::env::var("KEYWARD_ROOT_KEY").unwrap_or_default());
//! let keyward = Client::new("http://127.0.0.1:8080", root_key)?;
//!
//! let created = keyward
//!     .create_key(&CreateKeyRequest {
//!         name: "Stripe invoice sending".into(),
//!         permissions: vec!["invoices:read".into()],
//!         ..CreateKeyRequest::default()
//!     })
//!     .await?
//!     .into_value();
//!
//! let answer = keyward
//!     .verify(&VerifyRequest {
//!         key: created.key,
//!         permission: Some("invoices:read".into()),
//!         ..VerifyRequest::default()
//!     })
//!     .await?
//!     .into_value();
//! assert_eq!(answer.code, VerifyCode::Valid);
//!
//! match keyward.key("key_unknown").await {
//!     Err(Error::Api(refused)) => println!("{} {:?}", refused.status, refused.code),
//!     other => println!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod error;
mod export;
mod reply;
mod routes;

pub use client::{Client, ClientBuilder};
pub use error::{ApiError, Error, TransportKind};
pub use export::AuditExport;
pub use reply::{RawResponse, Reply};

/// The wire types, so callers need not depend on `keyward-api` themselves.
pub use keyward_api as api;
/// The HTTP vocabulary of [`Client::request`] and [`RawResponse`].
pub use reqwest::{header, Method, RequestBuilder, StatusCode};
/// The root key's wrapper, and the trait that reads it.
pub use secrecy::{ExposeSecret, SecretString};
