//! The change log: what several nodes on one database tell each other.
//!
//! Every write that changes what verification or authentication reads (a key, a root key, a
//! workspace's prefix, settings or policy) records a [`Change`] in the same transaction: a
//! sequence number, the workspace, what kind of object changed and its id — never the
//! object's contents, and never key material. A node that holds an in-memory index follows
//! the log from the sequence it loaded at and re-reads each changed object from the store.
//!
//! What an engine promises (the conformance suite checks it):
//! - sequence numbers are gap-free and a change becomes visible only after every change with
//!   a smaller number: a reader that has seen `n` has seen everything up to `n` (an engine
//!   whose transactions commit concurrently allocates them in commit order, e.g. from a
//!   counter row the writing transaction locks);
//! - one change per object a write changed, none for a write that failed;
//! - pruning ([`crate::Store::prune_changes`]) always keeps the newest change, so a reader
//!   that finds the first change after its position missing knows it fell behind the log.

use async_trait::async_trait;

use crate::store::StoreError;

/// What kind of object a [`Change`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangedObject {
    /// A customer key (created, updated, revoked, rotated, credits or limits changed).
    Key,
    /// A root key (created or revoked).
    RootKey,
    /// A workspace: created, or its settings or policy changed.
    Workspace,
}

impl ChangedObject {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::RootKey => "root_key",
            Self::Workspace => "workspace",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Key, Self::RootKey, Self::Workspace]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Gap-free and increasing in commit order, across workspaces.
    pub seq: i64,
    pub workspace_id: String,
    pub object: ChangedObject,
    /// The object's id (the workspace's own id for [`ChangedObject::Workspace`]).
    pub id: String,
}

impl Change {
    /// A change as an engine stored it: `object` is [`ChangedObject::as_str`]; any other text
    /// is [`StoreError::Corrupt`].
    pub fn from_stored(
        seq: i64,
        workspace_id: String,
        object: &str,
        id: String,
    ) -> Result<Self, StoreError> {
        let object = ChangedObject::parse(object)
            .ok_or_else(|| StoreError::Corrupt(format!("change {seq} names no object kind")))?;
        Ok(Self {
            seq,
            workspace_id,
            object,
            id,
        })
    }
}

/// A push channel from the database: it announces that changes were committed, so a
/// follower reads them at once instead of at its next poll. Announcements carry at most a
/// sequence number and may be lost (PostgreSQL's `NOTIFY` has no replay), so a follower still
/// polls; the log itself is the truth.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Opens a subscription. Announcements of changes committed after it returns are
    /// delivered; earlier ones are not.
    async fn subscribe(&self) -> Result<Box<dyn ChangeSubscription>, StoreError>;
}

/// An open subscription of a [`ChangeFeed`].
#[async_trait]
pub trait ChangeSubscription: Send {
    /// Waits for the next announcement: the sequence number announced, if the engine sends
    /// one. An error means the subscription is gone; subscribe again.
    async fn next(&mut self) -> Result<Option<i64>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_kind_reads_back_from_its_name() {
        for kind in [
            ChangedObject::Key,
            ChangedObject::RootKey,
            ChangedObject::Workspace,
        ] {
            assert_eq!(ChangedObject::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangedObject::parse("keys"), None);
    }
}
