//! Copying a whole database into an empty one, through the `Store` trait alone, so any engine
//! copies to any other (`keyward migrate-db`): every record as stored (keys with their credit
//! balances and usage, root keys, settings, policies), then each workspace's audit trail page
//! by page with its `seq`s and hashes as they are, and its chain head. The copy verifies
//! wherever the original did: every engine stores an event's fields exactly as hashed.
//!
//! The source must not change meanwhile (stop its servers first): the copy reads it in
//! several calls, not one snapshot.

use keyward_core::{Records, Store, StoreError, WorkspacePolicy};

/// Events read and written per call.
const PAGE: u32 = 5_000;

/// What stopped a copy.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target holds workspaces already: a copy never merges into existing data.
    #[error("the target database already holds data (workspaces); copy into an empty database")]
    TargetNotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How far a copy has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Every record is copied.
    Records {
        workspaces: usize,
        root_keys: usize,
        keys: usize,
    },
    /// `copied` of a workspace's events are copied; its chain's head is at `head_seq`.
    Events {
        workspace_id: &'a str,
        copied: u64,
        head_seq: i64,
    },
}

/// What a copy copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub workspaces: usize,
    pub root_keys: usize,
    pub keys: usize,
    pub events: u64,
}

/// Every record of `store` besides its audit trail; a workspace's policy only when it is not
/// the default.
pub async fn read_records(store: &dyn Store) -> Result<Records, StoreError> {
    let workspaces = store.workspaces().await?;
    let mut policies = Vec::new();
    for workspace in &workspaces {
        let policy = store.workspace_policy(&workspace.id).await?;
        if policy != WorkspacePolicy::default() {
            policies.push((workspace.id.clone(), policy));
        }
    }
    Ok(Records {
        settings: store.workspace_settings().await?,
        root_keys: store.root_keys().await?,
        keys: store.all_keys().await?,
        usage: store.key_usage().await?,
        policies,
        workspaces,
    })
}

/// Copies everything `from` holds into `to`, which must hold no workspace, calling
/// `progress` as it goes.
pub async fn copy_database(
    from: &dyn Store,
    to: &dyn Store,
    mut progress: impl FnMut(Progress<'_>) + Send,
) -> Result<Copied, CopyError> {
    if !to.workspaces().await?.is_empty() {
        return Err(CopyError::TargetNotEmpty);
    }
    let records = read_records(from).await?;
    to.import_records(&records).await?;
    let mut copied = Copied {
        workspaces: records.workspaces.len(),
        root_keys: records.root_keys.len(),
        keys: records.keys.len(),
        events: 0,
    };
    progress(Progress::Records {
        workspaces: copied.workspaces,
        root_keys: copied.root_keys,
        keys: copied.keys,
    });
    for workspace in &records.workspaces {
        let Some(head) = from.chain_head(&workspace.id).await? else {
            continue;
        };
        let (mut after, mut done) = (0, 0);
        loop {
            let page = from.events_ascending(&workspace.id, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            to.import_events(&workspace.id, &page, &head).await?;
            done += page.len() as u64;
            progress(Progress::Events {
                workspace_id: &workspace.id,
                copied: done,
                head_seq: head.seq,
            });
        }
        copied.events += done;
    }
    Ok(copied)
}
