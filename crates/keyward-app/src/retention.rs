//! Retention: verification events older than each workspace's `audit_retention_days` are
//! deleted; management events are kept forever. The store appends the new checkpoint to the
//! chain (an `audit.checkpoint` event) in the same transaction, so the chain stays verifiable.

use crate::service::Keyward;
use chrono::Duration;
use keyward_core::{EventKind, StoreError};

/// Prunes every workspace once; returns how many events were deleted.
pub async fn prune_once(state: &Keyward) -> Result<u64, StoreError> {
    let _maintenance = state.audit_maintenance.write().await;
    let now = state.clock.now();
    let mut deleted = 0;
    for workspace in state.store.workspaces().await? {
        let days = state.index.settings(&workspace.id).audit_retention_days;
        let cut = now - Duration::days(i64::from(days));
        deleted += state
            .store
            .prune_events(&workspace.id, EventKind::KeyVerified, cut, now)
            .await?;
    }
    Ok(deleted)
}
