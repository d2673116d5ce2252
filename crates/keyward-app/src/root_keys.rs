//! Root keys: workspace administrators' credentials, each with its own rights. A root key can
//! only hand out rights it holds itself, so a limited key cannot mint an unlimited one, and
//! only revoke root keys whose rights it holds entirely (`keyward_core::root_keys`), so a
//! limited key cannot lock the workspace's owners out.

use crate::bootstrap::new_root_key;
use crate::commit::Change;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::{Caller, RootKeysWrite};
use crate::service::Keyward;
use keyward_core::model::rights;
use keyward_core::root_keys::check_revocation;
use keyward_core::{ids, ApiKey, KeyName, Permission, RootKey};

/// Every right a root key can hold (also what `keyward root-key create` accepts).
pub const KNOWN_RIGHTS: [&str; 8] = [
    "*",
    rights::KEYS_READ,
    rights::KEYS_WRITE,
    rights::KEYS_VERIFY,
    rights::AUDIT_READ,
    rights::ROOT_KEYS_WRITE,
    rights::WORKSPACE_WRITE,
    rights::POLICY_WRITE,
];

/// A root key to create: its name and the rights it is to hold.
pub struct RootKeyDraft {
    pub name: KeyName,
    pub permissions: Vec<Permission>,
}

impl Keyward {
    /// Creates a root key holding `draft`'s rights, each a known right the caller holds;
    /// returns its record and its secret (shown once).
    pub async fn create_root_key(
        &self,
        caller: &Caller<'_, RootKeysWrite>,
        draft: RootKeyDraft,
    ) -> AppResult<(RootKey, ApiKey)> {
        let principal = caller.principal();
        if draft.permissions.is_empty() {
            return Err(AppError::Invalid(
                "a root key needs at least one right".into(),
            ));
        }
        for p in &draft.permissions {
            if !KNOWN_RIGHTS.contains(&p.as_str()) {
                return Err(AppError::Invalid(format!(
                    "unknown right {:?}; rights are {}",
                    p.as_str(),
                    KNOWN_RIGHTS.join(", ")
                )));
            }
            if !Permission::any_grants(principal.permissions(), p) {
                return Err(AppError::Forbidden(format!(
                    "a root key cannot grant {:?}, which it does not hold",
                    p.as_str()
                )));
            }
        }
        let now = self.clock.now();
        let (root, secret) = new_root_key(
            principal.workspace_id(),
            draft.name.as_str(),
            draft.permissions,
            now,
        )?;
        let event = events::root_key_created(principal, &root, now);
        self.writer()
            .await
            .commit(Change::NewRootKey(&root), event)
            .await?;
        Ok((root, secret))
    }

    /// The workspace's root keys, revoked ones too.
    pub async fn root_keys(&self, caller: &Caller<'_, RootKeysWrite>) -> AppResult<Vec<RootKey>> {
        let mut roots = self.store.root_keys().await?;
        roots.retain(|r| r.workspace_id == caller.workspace_id());
        Ok(roots)
    }

    /// Revokes the root key `id` if the caller may (`keyward_core::root_keys`); revoking a
    /// revoked one changes nothing.
    pub async fn revoke_root_key(
        &self,
        caller: &Caller<'_, RootKeysWrite>,
        id: &str,
    ) -> AppResult<RootKey> {
        let principal = caller.principal();
        if !ids::is_well_formed(ids::ROOT_KEY, id) {
            return Err(AppError::NotFound);
        }
        let now = self.clock.now();
        let writer = self.writer().await;
        // Read under the write lock: the rules below judge the workspace's root keys as they
        // are now, not as they were when this request authenticated.
        let mut workspace = self.store.root_keys().await?;
        workspace.retain(|r| r.workspace_id == principal.workspace_id());
        // The revoker may have been revoked since it authenticated (by a concurrent call).
        let revoker = workspace
            .iter()
            .find(|r| r.id == principal.id() && r.revoked_at.is_none())
            .ok_or(AppError::Unauthorized)?;
        let mut root = workspace
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(AppError::NotFound)?;
        check_revocation(revoker, &root, &workspace)
            .map_err(|e| AppError::Forbidden(e.to_string()))?;
        if root.revoked_at.is_none() {
            root.revoked_at = Some(now);
            let event = events::root_key_revoked(principal, &root, now);
            writer.commit(Change::RootKey(&root), event).await?;
        }
        Ok(root)
    }
}
