//! The storage boundary. The server holds an `Arc<dyn Store>`; each engine (SQLite today)
//! implements it in its own crate with its own migrations. Every mutation takes the audit
//! event that records it and writes both in one transaction, so a change is never durable
//! without its record.

use crate::advice::{AdviceCursor, AdviceSettings, Dismissal, KeyAdvice, KeyObservations};
use crate::audit::{AnchorPoint, AuditEvent, AuditFilter, Checkpoint, EventKind, NewEvent};
use crate::chain::ChainHead;
use crate::changes::Change;
use crate::credits::CreditOutcome;
use crate::dashboard::{Handover, Session};
use crate::hashing::KeyHash;
use crate::model::{
    KeyRecord, KeyStatus, KeyUsage, RootKey, UsageIncrement, Workspace, WorkspaceSettings,
};
use crate::policy::WorkspacePolicy;
use crate::spend::RecordedSpend;
use crate::verified_prefix::VerifiedPrefix;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Cloneable, so a batch committed for many callers gives each the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A live key in the workspace already has this name.
    #[error("a live key in this workspace already has that name")]
    NameTaken,
    #[error("not found")]
    NotFound,
    /// The database could not be reached or written; the message is for logs only.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back into a record.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// What was asked to be written breaks a rule every engine keeps (see
    /// [`NewEvent::refusal`](crate::NewEvent::refusal)); nothing of the write was kept.
    #[error("refused: {0}")]
    Refused(String),
}

/// Which keys a list wants, newest first; `before_id` is the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilter {
    pub owner_id: Option<String>,
    pub status: Option<KeyStatus>,
    /// Status is judged at this instant.
    pub now: DateTime<Utc>,
    pub before_id: Option<String>,
    pub limit: u32,
}

/// Every record a database holds besides its audit trail, as stored: what copying a database
/// (`keyward migrate-db`) reads from one store and hands to [`Store::import_records`] of
/// another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub workspaces: Vec<Workspace>,
    /// Settings of the workspaces that changed them from the defaults.
    pub settings: Vec<WorkspaceSettings>,
    /// Each workspace's policy (workspace id, policy).
    pub policies: Vec<(String, WorkspacePolicy)>,
    pub root_keys: Vec<RootKey>,
    /// With their credit balances as stored.
    pub keys: Vec<KeyRecord>,
    pub usage: Vec<KeyUsage>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Bring the schema up to date (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A cheap round-trip proving the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Create a workspace and its first root key.
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        root_key: &RootKey,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError>;
    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError>;
    /// Settings of every workspace that has changed them from the defaults.
    async fn workspace_settings(&self) -> Result<Vec<WorkspaceSettings>, StoreError>;
    async fn put_workspace_settings(
        &self,
        settings: &WorkspaceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError>;

    async fn insert_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError>;
    async fn update_root_key(&self, root_key: &RootKey, event: NewEvent) -> Result<(), StoreError>;
    /// Every root key of every workspace, for the in-memory index.
    async fn root_keys(&self) -> Result<Vec<RootKey>, StoreError>;

    async fn insert_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError>;
    /// Replace the mutable fields of an existing key (matched by workspace and id), except its
    /// credit balance: verifications spend that concurrently, and a change of other fields
    /// must never write back a balance read before a spend. See
    /// [`Store::update_key_and_credits`].
    async fn update_key(&self, key: &KeyRecord, event: NewEvent) -> Result<(), StoreError>;
    /// Update the old key and insert its replacement atomically. The replacement takes the
    /// old key's credit balance as stored at that moment (not as `old` was read), and from
    /// then on a spend on the old key draws from its replacement's (see `spend_credits`).
    async fn rotate_key(
        &self,
        old: &KeyRecord,
        new: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    async fn key(&self, workspace_id: &str, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    async fn list_keys(
        &self,
        workspace_id: &str,
        filter: &KeyFilter,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Every key of every workspace, for the in-memory verification index.
    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Every key of every workspace, in no particular order, each passed to `each` as it is
    /// read: how the index loads a million keys without holding them all as records at once.
    /// (This default reads them all first; the engines stream.)
    async fn each_key(&self, each: &mut (dyn FnMut(KeyRecord) + Send)) -> Result<(), StoreError> {
        for key in self.all_keys().await? {
            each(key);
        }
        Ok(())
    }

    /// Every key's usage: the sum of every increment recorded for it.
    async fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError>;
    /// Add usage increments, all or none: `verifications += verifications_added`,
    /// `last_used_at = max(stored, given)`. Several nodes record for the same key, so no
    /// increment may overwrite another.
    async fn record_usage(&self, usage: Vec<UsageIncrement>) -> Result<(), StoreError>;

    /// Append events that record no state change (verifications), durable before it returns.
    /// Every event appended before a chained write or an event read is placed in its chain
    /// before that write or read (a store that stages appends, such as
    /// `keyward_storage::Journaled`, settles first).
    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError>;
    async fn events(
        &self,
        workspace_id: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Events with `seq > after_seq` in ascending order, at most `limit`, for chain checks.
    async fn events_ascending(
        &self,
        workspace_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// The events of every kind but `key.verified` (those retention never deletes) with
    /// `after_seq < seq <= through_seq`, ascending, at most `limit`: what binds a chain to an
    /// anchor (`AnchorBinding`). The default walks every event; an engine reads its kind
    /// index, so the cost follows management events, not verifications.
    async fn kept_events(
        &self,
        workspace_id: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut kept = Vec::new();
        let mut after = after_seq;
        while after < through_seq && kept.len() < limit as usize {
            let page = self.events_ascending(workspace_id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            kept.extend(page.into_iter().filter(|e| {
                e.seq <= through_seq && e.event.kind != EventKind::KeyVerified.as_str()
            }));
        }
        kept.truncate(limit as usize);
        Ok(kept)
    }
    /// The chain's head: last `seq` and `hash` (None before the first event).
    async fn chain_head(&self, workspace_id: &str) -> Result<Option<ChainHead>, StoreError>;
    /// Where retention last cut the chain (None if it never has): the checkpoint of the
    /// chain's newest `audit.checkpoint` event.
    async fn checkpoint(&self, workspace_id: &str) -> Result<Option<Checkpoint>, StoreError>;
    /// The chain's head as an anchor signs it (None before the first event): the events
    /// retention never deletes up to it, counted and digested, read by [`Store::kept_events`].
    async fn anchor_point(&self, workspace_id: &str) -> Result<Option<AnchorPoint>, StoreError> {
        let Some(ChainHead { seq, hash }) = self.chain_head(workspace_id).await? else {
            return Ok(None);
        };
        let (mut kept, mut after) = (0, 0);
        let mut digest = crate::audit::KeptDigest::default();
        loop {
            let page = self.kept_events(workspace_id, after, seq, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            kept += page.len() as u64;
            page.iter().for_each(|e| digest.push_kept(&e.hash));
        }
        Ok(Some(AnchorPoint {
            seq,
            hash,
            kept,
            kept_digest: Some(digest.hex().to_owned()),
        }))
    }
    /// Delete events of `kind` older than `before` and append an `audit.checkpoint` event
    /// (stamped `now`) at the newest event at or before the cut, in one transaction. Returns
    /// how many events were deleted.
    async fn prune_events(
        &self,
        workspace_id: &str,
        kind: EventKind,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    // Restrictions and limits.

    /// [`Store::update_key`], and also replace the key's credits (balance, refill schedule and
    /// anchor) with `key.restrictions.credits`, in the same transaction.
    async fn update_key_and_credits(
        &self,
        key: &KeyRecord,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Atomically apply the key's refill schedule as of `now` and spend `cost` from its
    /// balance, or nothing if fewer remain; durable before it returns. The balance of a
    /// rotated key is its replacement's (the last of its rotation chain), so the two share
    /// it. `None` when the key does not exist in the workspace or has no credits.
    async fn spend_credits(
        &self,
        workspace_id: &str,
        key_id: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<CreditOutcome>, StoreError>;
    /// The workspace's policy (the default, restricting nothing, if none was set).
    async fn workspace_policy(&self, workspace_id: &str) -> Result<WorkspacePolicy, StoreError>;
    async fn set_workspace_policy(
        &self,
        workspace_id: &str,
        policy: &WorkspacePolicy,
        event: NewEvent,
    ) -> Result<(), StoreError>;

    // The change log (see `crate::changes`): every method above that changes a key, a root
    // key or a workspace records one change per object it changed, in its own transaction.

    /// Changes with `seq > after_seq`, oldest first, at most `limit`. The first one's `seq`
    /// is `after_seq + 1` unless the changes between were pruned.
    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Change>, StoreError>;
    /// The newest change's `seq` (0 before the first).
    async fn last_change_seq(&self) -> Result<i64, StoreError>;
    /// Deletes changes recorded before `before`, always keeping the newest one. Returns how
    /// many were deleted.
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    // The dashboard: sessions and one-time handover links (`crate::dashboard`). Nodes
    // sharing a database share them, so a session or a link works on any node.

    /// Stores a new session together with its sign-in event, in one transaction.
    async fn insert_session(&self, session: &Session, event: NewEvent) -> Result<(), StoreError>;
    /// The session whose token has this hash, if it exists (live or not).
    async fn session(&self, token_hash: &KeyHash) -> Result<Option<Session>, StoreError>;
    /// Moves the session's `last_seen_at` forward to `at` (never back).
    async fn touch_session(
        &self,
        token_hash: &KeyHash,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes the session and, if it existed, appends `event` (its sign-out) in the same
    /// transaction. Returns whether it existed.
    async fn end_session(&self, token_hash: &KeyHash, event: NewEvent) -> Result<bool, StoreError>;
    /// Stores a handover link together with its creation event, in one transaction.
    async fn insert_handover(&self, handover: &Handover, event: NewEvent)
        -> Result<(), StoreError>;
    /// The handover link `id`, if it is still stored (its expiry is the caller's to judge).
    async fn handover(&self, id: &str) -> Result<Option<Handover>, StoreError>;
    /// Deletes the handover link `id` and, if this call deleted it, appends `event` (its
    /// pickup) in the same transaction: of callers racing for one link, on any node, exactly
    /// one gets `true`.
    async fn take_handover(&self, id: &str, event: NewEvent) -> Result<bool, StoreError>;
    /// Deletes sessions and handover links past their absolute end (`expires_at <= now`).
    /// Returns how many rows were deleted.
    async fn prune_dashboard(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    // Safety advice (`crate::advice`): each workspace's settings, what was observed of its
    // keys' use, its current items and its dismissals. Nothing verification reads.

    /// The workspace's advice settings (`None`: the defaults).
    async fn advice_settings(
        &self,
        workspace_id: &str,
    ) -> Result<Option<AdviceSettings>, StoreError>;
    /// Replaces the workspace's advice settings, with their event, in one transaction.
    async fn set_advice_settings(
        &self,
        workspace_id: &str,
        settings: &AdviceSettings,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// The stored observations of those of `key_ids` (in the workspace) that have any.
    async fn key_observations(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<KeyObservations>, StoreError>;
    /// Writes each key's observations in place of what it had, all or none.
    async fn put_key_observations(
        &self,
        observations: &[KeyObservations],
    ) -> Result<(), StoreError>;
    /// Replaces the listed items of every key in `key_ids` with those of `items` (a key
    /// without any in `items` loses its own), in one transaction.
    async fn replace_advice(
        &self,
        workspace_id: &str,
        key_ids: &[String],
        items: &[KeyAdvice],
    ) -> Result<(), StoreError>;
    /// The workspace's listed items, worst first (severity, then key id, then code), those
    /// after `after` only, at most `limit`.
    async fn advice(
        &self,
        workspace_id: &str,
        after: Option<&AdviceCursor>,
        limit: u32,
    ) -> Result<Vec<KeyAdvice>, StoreError>;
    /// The dismissals of those of `key_ids` (in the workspace) that have any.
    async fn advice_dismissals(
        &self,
        workspace_id: &str,
        key_ids: &[String],
    ) -> Result<Vec<Dismissal>, StoreError>;
    /// Records the dismissal (replacing an earlier one of the same key and code), takes the
    /// item off the workspace's list and appends `event`, in one transaction.
    async fn dismiss_advice(
        &self,
        dismissal: &Dismissal,
        event: NewEvent,
    ) -> Result<(), StoreError>;

    // Copying a database into an empty one (`keyward migrate-db`).

    /// Writes `records` exactly as given (credit balances included), in one transaction,
    /// recording no event: they are copies, and the events that recorded them are copied with
    /// [`Store::import_events`]. Fails if any of them exists already.
    async fn import_records(&self, records: &Records) -> Result<(), StoreError>;
    /// Writes stored events of `workspace_id` exactly as given (their `seq`, `prev_hash` and
    /// `hash` kept, not linked anew) and sets the workspace's chain head to `head`, in one
    /// transaction. Fails if an event of another workspace is among them, or an event with
    /// one of their `seq`s exists already.
    async fn import_events(
        &self,
        workspace_id: &str,
        events: &[AuditEvent],
        head: &ChainHead,
    ) -> Result<(), StoreError>;

    // Incremental chain verification (`crate::verified_prefix`): each workspace's signed
    // verified prefix. The store keeps it as given; the caller checks its signature.

    /// The workspace's stored verified prefix, if any.
    async fn verified_prefix(
        &self,
        workspace_id: &str,
    ) -> Result<Option<VerifiedPrefix>, StoreError>;
    /// Stores `prefix` in place of the workspace's previous one.
    async fn put_verified_prefix(&self, prefix: &VerifiedPrefix) -> Result<(), StoreError>;
    /// Forgets the workspace's verified prefix (the next check starts from the beginning).
    async fn clear_verified_prefix(&self, workspace_id: &str) -> Result<(), StoreError>;

    // A credit spend and the verification that records it, as one durable write.

    /// [`Store::spend_credits`] and [`Store::append_events`] of the event
    /// [`RecordedSpend::event_for`] the outcome. A store that can make both durable in one
    /// write (the audit journal: one record) overrides this; this default spends, then
    /// appends, so a crash between the two keeps the spend without its event.
    async fn spend_and_record(
        &self,
        spend: RecordedSpend,
    ) -> Result<Option<CreditOutcome>, StoreError> {
        let outcome = self
            .spend_credits(&spend.workspace_id, &spend.key_id, spend.cost, spend.now)
            .await?;
        self.append_events(vec![spend.into_event(outcome)]).await?;
        Ok(outcome)
    }

    // Index snapshots (a node's verification index written to a file and read back at
    // start, `keyward_app::snapshot`).

    /// The change recorded with sequence number `seq` and when it was recorded, if the log
    /// still holds it: a snapshot taken at `seq` belongs to this database's history only if
    /// the change there is the one it saw. The default holds none, so a store that does not
    /// forward this answers "unknown" and a snapshot is never trusted through it.
    async fn change_at(&self, seq: i64) -> Result<Option<(Change, DateTime<Utc>)>, StoreError> {
        let _ = seq;
        Ok(None)
    }
}
