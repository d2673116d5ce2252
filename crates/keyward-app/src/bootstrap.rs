//! Creating a workspace with its first root key (`keyward init`, the first `keyward serve` on
//! an empty database), and issuing root keys.

use keyward_core::model::RootKey;
use keyward_core::{
    ids, ApiKey, Clock, KeyFormatError, KeyHash, KeyPrefix, Permission, Store, StoreError,
    Workspace,
};

/// Issuer prefix of every root key. Root keys have their own table and index, so the prefix
/// only helps people and scanners recognise one.
pub const ROOT_KEY_PREFIX: &str = "kw_root";

/// Why a workspace or root key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("invalid --prefix: {0}")]
    Prefix(KeyFormatError),
    #[error("a workspace name must be 1-100 characters")]
    Name,
    #[error("generating a root key: {0}")]
    Generate(String),
    #[error("creating the workspace: {0}")]
    Store(#[from] StoreError),
}

impl From<BootstrapError> for crate::error::AppError {
    fn from(e: BootstrapError) -> Self {
        match e {
            BootstrapError::Store(e) => Self::Store(e),
            other => Self::Internal(other.to_string()),
        }
    }
}

pub struct NewWorkspace {
    pub workspace: Workspace,
    pub root_key: ApiKey,
    pub root_key_id: String,
}

/// Creates the workspace and a root key holding every right; the plaintext root key is
/// returned for the caller to show once.
pub async fn create_workspace(
    store: &dyn Store,
    clock: &dyn Clock,
    name: &str,
    prefix: &str,
) -> Result<NewWorkspace, BootstrapError> {
    let prefix = KeyPrefix::parse(prefix).map_err(BootstrapError::Prefix)?;
    let name = name.trim();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(BootstrapError::Name);
    }
    let now = clock.now();
    let workspace = Workspace {
        id: ids::new_id(ids::WORKSPACE),
        name: name.to_owned(),
        prefix: prefix.to_string(),
        created_at: now,
    };
    let every_right =
        Permission::parse("*").map_err(|e| BootstrapError::Generate(e.to_string()))?;
    let (root, secret) = new_root_key(&workspace.id, "Initial root key", vec![every_right], now)?;
    let events = crate::events::workspace_created(&workspace, &root, now);
    store.create_workspace(&workspace, &root, events).await?;
    Ok(NewWorkspace {
        root_key_id: root.id,
        workspace,
        root_key: secret,
    })
}

/// Writes `root`, made by operator recovery at `now`, with its `root_key.created` event. (A
/// running server learns it on its next root-key reload.)
pub async fn insert_recovered_root_key(
    store: &dyn Store,
    root: &RootKey,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let event = crate::events::root_key_recovered(root, now);
    store.insert_root_key(root, event).await
}

/// A new root key record and its plaintext.
pub fn new_root_key(
    workspace_id: &str,
    name: &str,
    permissions: Vec<Permission>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(RootKey, ApiKey), BootstrapError> {
    let prefix = KeyPrefix::parse(ROOT_KEY_PREFIX).map_err(BootstrapError::Prefix)?;
    let secret = ApiKey::generate(&prefix).map_err(|e| BootstrapError::Generate(e.to_string()))?;
    let root = RootKey {
        id: ids::new_id(ids::ROOT_KEY),
        workspace_id: workspace_id.to_owned(),
        name: name.to_owned(),
        hash: KeyHash::of(secret.expose()),
        start: secret.start(),
        permissions,
        created_at: now,
        revoked_at: None,
    };
    Ok((root, secret))
}
