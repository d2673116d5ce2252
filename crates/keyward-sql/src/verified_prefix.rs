//! A workspace's signed verified prefix as stored (migration 0014 of both engines): the
//! whole signed record as JSON text, so the engines keep it byte for byte and the signature
//! still covers what is read back.

use crate::rows::IntoRecord;
use keyward_core::{StoreError, VerifiedPrefix};

/// The prefix as stored.
pub fn to_json(prefix: &VerifiedPrefix) -> Result<String, StoreError> {
    serde_json::to_string(prefix)
        .map_err(|e| StoreError::Refused(format!("unstorable verified prefix: {e}")))
}

#[derive(sqlx::FromRow)]
pub struct VerifiedPrefixRow {
    workspace_id: String,
    prefix: String,
}

impl IntoRecord for VerifiedPrefixRow {
    type Record = VerifiedPrefix;

    fn into_record(self) -> Result<VerifiedPrefix, StoreError> {
        serde_json::from_str(&self.prefix)
            .map_err(|_| StoreError::Corrupt(format!("verified prefix of {}", self.workspace_id)))
    }
}
