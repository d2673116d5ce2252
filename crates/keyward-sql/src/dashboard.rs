//! The dashboard's rows (sessions and handover links), as every engine reads them back, and
//! their columns: the same stored forms as everywhere (times as unix ms, hashes as 32 bytes).

use crate::columns::{hash, time};
use crate::rows::IntoRecord;
use keyward_core::{Handover, Session, StoreError};

/// The columns of `dashboard_sessions`, in the order [`SessionRow`] reads them.
pub const SESSION_COLUMNS: &str =
    "token_hash, workspace_id, root_key_id, created_at, last_seen_at, expires_at";

/// The columns of `handovers`, in the order [`HandoverRow`] reads them.
pub const HANDOVER_COLUMNS: &str = "id, workspace_id, key_id, key_name, secret_hash, \
     key_version, nonce, ciphertext, created_at, expires_at";

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    token_hash: Vec<u8>,
    workspace_id: String,
    root_key_id: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl IntoRecord for SessionRow {
    type Record = Session;

    fn into_record(self) -> Result<Session, StoreError> {
        // The session is named by its root key: its token hash never goes in a message.
        let what = |column: &str| format!("session of {} {column}", self.root_key_id);
        Ok(Session {
            token_hash: hash(&self.token_hash, &what("token_hash"))?,
            created_at: time(self.created_at, &what("created_at"))?,
            last_seen_at: time(self.last_seen_at, &what("last_seen_at"))?,
            expires_at: time(self.expires_at, &what("expires_at"))?,
            workspace_id: self.workspace_id,
            root_key_id: self.root_key_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct HandoverRow {
    id: String,
    workspace_id: String,
    key_id: String,
    key_name: String,
    secret_hash: Vec<u8>,
    key_version: i32,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    created_at: i64,
    expires_at: i64,
}

impl IntoRecord for HandoverRow {
    type Record = Handover;

    fn into_record(self) -> Result<Handover, StoreError> {
        let what = |column: &str| format!("handover {} {column}", self.id);
        Ok(Handover {
            secret_hash: hash(&self.secret_hash, &what("secret_hash"))?,
            created_at: time(self.created_at, &what("created_at"))?,
            expires_at: time(self.expires_at, &what("expires_at"))?,
            id: self.id,
            workspace_id: self.workspace_id,
            key_id: self.key_id,
            key_name: self.key_name,
            key_version: self.key_version,
            nonce: self.nonce,
            ciphertext: self.ciphertext,
        })
    }
}
