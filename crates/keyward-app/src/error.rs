//! [`AppError`]: what went wrong in an operation, for every interface to map to its own
//! answers (the server to HTTP statuses, in one `match`). Messages are for the caller and
//! never hold a key or a digest; `Unavailable` and `Internal` details are for the log only.

use keyward_core::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request asks for something invalid; the message says what.
    #[error("{0}")]
    Invalid(String),
    /// No valid root key (also: the caller's root key was revoked meanwhile).
    #[error("unauthorized")]
    Unauthorized,
    /// The caller lacks a right, or may not do this to that target.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource in the caller's workspace (or a malformed id: indistinguishable).
    #[error("not found")]
    NotFound,
    /// The resource's state does not allow this (a revoked key cannot be changed, …).
    #[error("{0}")]
    Conflict(String),
    /// A dependency (rate-limit counters, the audit path) cannot be reached: fail closed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The service cannot serve now; the message says why, in words fit for any caller
    /// (fixed phrases, never an underlying error's text).
    #[error("not ready: {0}")]
    NotReady(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    pub(crate) fn invalid(e: impl ToString) -> Self {
        Self::Invalid(e.to_string())
    }
}

pub type AppResult<T> = Result<T, AppError>;
