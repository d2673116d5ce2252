//! The workspace's rules for the keys it issues (today, a maximum key lifetime). Reading needs
//! `keys:read`; changing needs `policy:write`, a right separate from `keys:write` so that a
//! root key that creates keys cannot lift the policy that binds them.

use crate::commit::Change;
use crate::error::AppResult;
use crate::events;
use crate::rights::{Caller, KeysRead, PolicyWrite};
use crate::service::Keyward;
use keyward_core::WorkspacePolicy;

impl Keyward {
    pub async fn policy(&self, caller: &Caller<'_, KeysRead>) -> AppResult<WorkspacePolicy> {
        Ok(self.store.workspace_policy(caller.workspace_id()).await?)
    }

    pub async fn set_policy(
        &self,
        caller: &Caller<'_, PolicyWrite>,
        policy: WorkspacePolicy,
    ) -> AppResult<WorkspacePolicy> {
        let now = self.clock.now();
        let event = events::policy_updated(caller.principal(), &policy, now);
        self.writer()
            .await
            .commit(Change::Policy(caller.workspace_id(), &policy), event)
            .await?;
        tracing::info!(workspace_id = %caller.workspace_id(), "policy updated");
        Ok(policy)
    }
}
