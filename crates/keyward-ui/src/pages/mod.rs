//! One module per page family; each handler signs in (the `Signed`/`Posted` extractors),
//! authorizes with the core, parses its form, calls one `Keyward` operation and renders.

pub mod audit;
pub mod handover;
pub mod key_page;
pub mod keys;
pub mod root_keys;
pub mod show_once;
pub mod sign_in;

use keyward_app::AppError;
use keyward_core::StoreError;

/// What a form shows above itself when the core refused what it sent, or `None` when the
/// failure is not about the form (storage down, …) and gets the error page instead.
pub fn form_message(e: &AppError) -> Option<String> {
    match e {
        AppError::Invalid(m) | AppError::Conflict(m) | AppError::Forbidden(m) => Some(m.clone()),
        AppError::Store(StoreError::NameTaken) => Some(StoreError::NameTaken.to_string()),
        _ => None,
    }
}
