//! Creating a workspace with its first root key: used by `keyward init` and by the first
//! `keyward serve` on an empty database (which hand the root key over, in the `keyward`
//! crate).

use anyhow::Context;
use keyward_core::audit::EventKind;
use keyward_core::model::RootKey;
use keyward_core::{
    ids, ApiKey, Clock, KeyHash, KeyPrefix, NewEvent, Permission, Store, Workspace,
};

/// Issuer prefix of every root key. Root keys have their own table and index, so the prefix
/// only helps people and scanners recognise one.
pub const ROOT_KEY_PREFIX: &str = "kw_root";

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
) -> anyhow::Result<NewWorkspace> {
    let prefix = KeyPrefix::parse(prefix).context("invalid --prefix")?;
    let name = name.trim();
    anyhow::ensure!(
        (1..=100).contains(&name.chars().count()),
        "a workspace name must be 1-100 characters"
    );
    let now = clock.now();
    let workspace = Workspace {
        id: ids::new_id(ids::WORKSPACE),
        name: name.to_owned(),
        prefix: prefix.to_string(),
        created_at: now,
    };
    let (root, secret) = new_root_key(
        &workspace.id,
        "Initial root key",
        vec![Permission::parse("*")?],
        now,
    )?;
    let events = vec![
        NewEvent::new(&workspace.id, now, EventKind::WorkspaceCreated).detail(format!(
            "workspace {:?} with key prefix {}",
            workspace.name, workspace.prefix
        )),
        NewEvent::new(&workspace.id, now, EventKind::RootKeyCreated).actor(&root.id, &root.name),
    ];
    store
        .create_workspace(&workspace, &root, events)
        .await
        .context("creating the workspace")?;
    Ok(NewWorkspace {
        root_key_id: root.id,
        workspace,
        root_key: secret,
    })
}

/// A new root key record and its plaintext.
pub fn new_root_key(
    workspace_id: &str,
    name: &str,
    permissions: Vec<Permission>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(RootKey, ApiKey)> {
    let prefix = KeyPrefix::parse(ROOT_KEY_PREFIX)?;
    let secret = ApiKey::generate(&prefix)?;
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
