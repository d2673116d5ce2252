//! The key lifecycle: create, list, show, update, revoke, rotate. Each change is written with
//! its audit event in one transaction and then placed in the verification index
//! (`commit.rs`), so a revoked key is refused as soon as the revoke call has returned.

use crate::commit::Change;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::{Caller, KeysRead, KeysWrite};
use crate::service::Keyward;
use chrono::{DateTime, Duration, Utc};
use keyward_core::{
    ids, ApiKey, Credits, IpRange, KeyFilter, KeyHash, KeyName, KeyRecord, KeyStatus, Origin,
    Permission, RateLimit, Restrictions,
};
use serde_json::{Map, Value};

/// Most keys one page of a listing holds.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 50;
/// The longest a rotated key may keep working.
pub const MAX_GRACE_SECONDS: u64 = 30 * 24 * 3600;

/// A key to create, every field parsed (see `fields.rs` for the field parsers).
#[derive(Debug, Clone)]
pub struct KeyDraft {
    pub name: KeyName,
    pub description: Option<String>,
    pub owner_id: Option<String>,
    pub permissions: Vec<Permission>,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    pub restrictions: Restrictions,
    /// The instant the draft's relative times (`expires_in`, the credit refill schedule)
    /// count from; the key is created at this instant.
    pub requested_at: DateTime<Utc>,
}

/// Changes to a key: each `Some` field is set (`Some(None)` clears an optional one).
#[derive(Debug, Clone)]
pub struct KeyPatch {
    pub name: Option<KeyName>,
    pub description: Option<Option<String>>,
    pub owner_id: Option<Option<String>>,
    pub permissions: Option<Vec<Permission>>,
    pub enabled: Option<bool>,
    pub metadata: Option<Map<String, Value>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub ip_allowlist: Option<Vec<IpRange>>,
    pub origin_allowlist: Option<Vec<Origin>>,
    pub rate_limit: Option<Option<RateLimit>>,
    /// Setting credits writes the balance (`Store::update_key_and_credits`).
    pub credits: Option<Option<Credits>>,
    /// The instant the patch's relative times count from; the key is updated at this instant.
    pub requested_at: DateTime<Utc>,
}

impl KeyPatch {
    /// A patch that changes nothing, parsed at `requested_at`.
    pub fn empty(requested_at: DateTime<Utc>) -> Self {
        Self {
            name: None,
            description: None,
            owner_id: None,
            permissions: None,
            enabled: None,
            metadata: None,
            expires_at: None,
            ip_allowlist: None,
            origin_allowlist: None,
            rate_limit: None,
            credits: None,
            requested_at,
        }
    }

    /// Applies the patch to `key`; returns the names of the fields set, in the order the
    /// audit event lists them.
    fn apply(self, key: &mut KeyRecord) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if let Some(expires_at) = self.expires_at {
            key.expires_at = expires_at;
            changed.push("expires_at");
        }
        if let Some(list) = self.ip_allowlist {
            key.restrictions.ip_allowlist = list;
            changed.push("ip_allowlist");
        }
        if let Some(list) = self.origin_allowlist {
            key.restrictions.origin_allowlist = list;
            changed.push("origin_allowlist");
        }
        if let Some(limit) = self.rate_limit {
            key.restrictions.rate_limit = limit;
            changed.push("rate_limit");
        }
        if let Some(credits) = self.credits {
            key.restrictions.credits = credits;
            changed.push("credits");
        }
        if let Some(name) = self.name {
            key.name = name.into_inner();
            changed.push("name");
        }
        if let Some(description) = self.description {
            key.description = description;
            changed.push("description");
        }
        if let Some(owner_id) = self.owner_id {
            key.owner_id = owner_id;
            changed.push("owner_id");
        }
        if let Some(permissions) = self.permissions {
            key.permissions = permissions;
            changed.push("permissions");
        }
        if let Some(enabled) = self.enabled {
            key.enabled = enabled;
            changed.push("enabled");
        }
        if let Some(metadata) = self.metadata {
            key.metadata = metadata;
            changed.push("metadata");
        }
        key.updated_at = self.requested_at;
        changed
    }
}

/// Which keys to list.
#[derive(Debug, Clone, Default)]
pub struct KeyQuery {
    pub owner_id: Option<String>,
    pub status: Option<KeyStatus>,
    /// 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// The last key id of the previous page (a well-formed key id).
    pub cursor: Option<String>,
    /// Only keys whose name contains this text, ignoring case.
    pub name_contains: Option<String>,
    /// Only keys holding a permission that grants this one.
    pub permission: Option<Permission>,
}

impl KeyQuery {
    /// A query with `limit` (default [`DEFAULT_PAGE`]) and `cursor` checked.
    pub fn new(
        owner_id: Option<String>,
        status: Option<KeyStatus>,
        limit: Option<u32>,
        cursor: Option<String>,
    ) -> AppResult<Self> {
        let limit = crate::fields::page_limit(limit, DEFAULT_PAGE, MAX_PAGE)?;
        if cursor
            .as_deref()
            .is_some_and(|c| !ids::is_well_formed(ids::KEY, c))
        {
            return Err(AppError::invalid(crate::fields::BAD_CURSOR));
        }
        Ok(Self {
            owner_id,
            status,
            limit,
            cursor,
            name_contains: None,
            permission: None,
        })
    }

    /// Narrows the query to keys whose name contains `text` (ignoring case) and that hold a
    /// permission granting `permission`. Listing with either reads at most
    /// [`MAX_SCANNED`] keys per page, so a page may hold fewer keys than its limit and
    /// still have a next one.
    pub fn matching(mut self, text: Option<String>, permission: Option<Permission>) -> Self {
        self.name_contains = text
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
        self.permission = permission;
        self
    }

    fn matches(&self, key: &KeyRecord) -> bool {
        self.name_contains
            .as_deref()
            .is_none_or(|text| key.name.to_lowercase().contains(text))
            && self
                .permission
                .as_ref()
                .is_none_or(|p| Permission::any_grants(&key.permissions, p))
    }
}

/// Most keys one page of a listing narrowed by name or permission reads from storage.
pub const MAX_SCANNED: u32 = 1000;

/// One page of keys, and the cursor of the next when there is one.
pub struct KeyPage {
    pub keys: Vec<KeyRecord>,
    pub next_cursor: Option<String>,
    /// The instant statuses were judged at.
    pub at: DateTime<Utc>,
}

/// A key just issued: its secret (shown once) and its record.
pub struct Issued {
    pub secret: ApiKey,
    pub key: KeyRecord,
    pub at: DateTime<Utc>,
}

/// A key as it is after a change, and when the change was made.
pub struct KeyChange {
    pub key: KeyRecord,
    pub at: DateTime<Utc>,
}

impl Keyward {
    pub async fn create_key(
        &self,
        caller: &Caller<'_, KeysWrite>,
        draft: KeyDraft,
    ) -> AppResult<Issued> {
        let now = draft.requested_at;
        let workspace_id = caller.workspace_id();
        let secret = self.issue_secret(workspace_id)?;
        let key = KeyRecord {
            imported: false,
            id: ids::new_id(ids::KEY),
            workspace_id: workspace_id.to_owned(),
            name: draft.name.into_inner(),
            description: draft.description,
            owner_id: draft.owner_id,
            hash: KeyHash::of(secret.expose()),
            start: secret.start(),
            permissions: draft.permissions,
            enabled: draft.enabled,
            expires_at: draft.expires_at,
            metadata: draft.metadata,
            created_at: now,
            updated_at: now,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: draft.restrictions,
        };
        let writer = self.writer().await;
        self.check_policy(workspace_id, key.expires_at, now).await?;
        let event = events::key_created(caller.principal(), &key, now);
        writer.commit(Change::NewKey(&key), event).await?;
        tracing::info!(key_id = %key.id, workspace_id = %key.workspace_id, "key created");
        Ok(Issued {
            secret,
            key,
            at: now,
        })
    }

    pub async fn list_keys(
        &self,
        caller: &Caller<'_, KeysRead>,
        query: KeyQuery,
    ) -> AppResult<KeyPage> {
        let now = self.clock.now();
        let (mut keys, next_cursor) = if query.name_contains.is_some() || query.permission.is_some()
        {
            self.scan_keys(caller.workspace_id(), &query, now).await?
        } else {
            let limit = query.limit;
            let filter = KeyFilter {
                owner_id: query.owner_id,
                status: query.status,
                now,
                before_id: query.cursor,
                limit: limit + 1,
            };
            let mut keys = self.store.list_keys(caller.workspace_id(), &filter).await?;
            let next_cursor = if keys.len() > limit as usize {
                keys.truncate(limit as usize);
                keys.last().map(|k| k.id.clone())
            } else {
                None
            };
            (keys, next_cursor)
        };
        for key in &mut keys {
            self.show_shared_balance(key).await?;
        }
        Ok(KeyPage {
            keys,
            next_cursor,
            at: now,
        })
    }

    /// A page of keys narrowed by name or permission: storage pages read in order until the
    /// page is full, storage has no more, or [`MAX_SCANNED`] keys were read; the cursor is
    /// the last key read.
    async fn scan_keys(
        &self,
        workspace_id: &str,
        query: &KeyQuery,
        now: DateTime<Utc>,
    ) -> AppResult<(Vec<KeyRecord>, Option<String>)> {
        let mut keys = Vec::new();
        let mut last_read = query.cursor.clone();
        let mut scanned = 0;
        loop {
            let filter = KeyFilter {
                owner_id: query.owner_id.clone(),
                status: query.status,
                now,
                before_id: last_read.clone(),
                limit: MAX_PAGE,
            };
            let batch = self.store.list_keys(workspace_id, &filter).await?;
            let exhausted = batch.len() < MAX_PAGE as usize;
            let count = batch.len();
            for (i, key) in batch.into_iter().enumerate() {
                scanned += 1;
                last_read = Some(key.id.clone());
                if query.matches(&key) {
                    keys.push(key);
                    if keys.len() == query.limit as usize {
                        let more = !(exhausted && i + 1 == count);
                        return Ok((keys, last_read.filter(|_| more)));
                    }
                }
            }
            if exhausted {
                return Ok((keys, None));
            }
            if scanned >= MAX_SCANNED {
                return Ok((keys, last_read));
            }
        }
    }

    /// The key `id` in the caller's workspace.
    pub async fn key(&self, caller: &Caller<'_, KeysRead>, id: &str) -> AppResult<KeyRecord> {
        let mut key = self.load_key(caller.workspace_id(), id).await?;
        self.show_shared_balance(&mut key).await?;
        Ok(key)
    }

    pub async fn update_key(
        &self,
        caller: &Caller<'_, KeysWrite>,
        id: &str,
        patch: KeyPatch,
    ) -> AppResult<KeyChange> {
        let now = patch.requested_at;
        let writer = self.writer().await;
        let mut key = self.load_key(caller.workspace_id(), id).await?;
        if key.revoked_at.is_some() {
            return Err(AppError::Conflict(
                "a revoked key cannot be changed; create a new one".into(),
            ));
        }
        if key.replaced_by.is_some() {
            // Its grace period is fixed at rotation: extending or reviving it would leave the
            // old secret working beside its replacement for longer than the rotation said.
            return Err(AppError::Conflict(
                "this key was rotated and only works until its grace period ends; change its replacement, or revoke it".into(),
            ));
        }
        if let Some(expires_at) = patch.expires_at {
            self.check_policy(&key.workspace_id, expires_at, now)
                .await?;
        }
        let credits_set = patch.credits.is_some();
        let changed = patch.apply(&mut key);
        let event = events::key_updated(caller.principal(), &key, now, &changed);
        let change = if credits_set {
            Change::KeyAndCredits(&key)
        } else {
            Change::Key(&key)
        };
        writer.commit(change, event).await?;
        Ok(KeyChange { key, at: now })
    }

    /// Revokes the key `id`; revoking a revoked key changes nothing and is not an error (the
    /// caller's intent holds).
    pub async fn revoke_key(
        &self,
        caller: &Caller<'_, KeysWrite>,
        id: &str,
        reason: Option<String>,
    ) -> AppResult<KeyChange> {
        let now = self.clock.now();
        let writer = self.writer().await;
        let mut key = self.load_key(caller.workspace_id(), id).await?;
        if key.revoked_at.is_some() {
            return Ok(KeyChange { key, at: now });
        }
        key.revoke(now, reason.clone());
        let event = events::key_revoked(caller.principal(), &key, now, reason);
        writer.commit(Change::Key(&key), event).await?;
        tracing::info!(key_id = %key.id, workspace_id = %key.workspace_id, "key revoked");
        Ok(KeyChange { key, at: now })
    }

    /// Replaces the key `id` with a new secret; the old one keeps working for
    /// `grace_period_seconds` (at most [`MAX_GRACE_SECONDS`]; 0 revokes it now).
    pub async fn rotate_key(
        &self,
        caller: &Caller<'_, KeysWrite>,
        id: &str,
        grace_period_seconds: u64,
    ) -> AppResult<Issued> {
        if grace_period_seconds > MAX_GRACE_SECONDS {
            return Err(AppError::Invalid(format!(
                "grace_period_seconds is limited to {MAX_GRACE_SECONDS} (30 days)"
            )));
        }
        let now = self.clock.now();
        let writer = self.writer().await;
        let mut old = self.load_key(caller.workspace_id(), id).await?;
        if old.revoked_at.is_some() {
            return Err(AppError::Conflict(
                "a revoked key cannot be rotated; create a new one".into(),
            ));
        }
        if old.replaced_by.is_some() {
            return Err(AppError::Conflict(
                "this key was already rotated; rotate its replacement".into(),
            ));
        }
        let secret = self.issue_secret(caller.workspace_id())?;
        // A rotation issues a key, so the workspace's maximum lifetime counts from now, as for
        // create; the new key never outlives the old one's expiry either.
        let policy = self.store.workspace_policy(caller.workspace_id()).await?;
        let new = KeyRecord {
            id: ids::new_id(ids::KEY),
            hash: KeyHash::of(secret.expose()),
            start: secret.start(),
            // The replacement is a keyward key, whatever the old one was.
            imported: false,
            created_at: now,
            updated_at: now,
            expires_at: policy.cap_expiry(old.expires_at, now),
            ..old.clone()
        };
        old.replaced_by = Some(new.id.clone());
        old.updated_at = now;
        let grace = i64::try_from(grace_period_seconds).unwrap_or(i64::MAX);
        let old_until = if grace == 0 {
            old.revoke(now, Some("rotated".into()));
            now
        } else {
            let end = now + Duration::seconds(grace);
            let until = old.expires_at.map_or(end, |e| e.min(end));
            old.expires_at = Some(until);
            until
        };
        let event = events::key_rotated(caller.principal(), &old, &new.id, old_until, now);
        writer
            .commit(
                Change::Rotation {
                    old: &old,
                    new: &new,
                },
                event,
            )
            .await?;
        tracing::info!(key_id = %id, new_key_id = %new.id, "key rotated");
        Ok(Issued {
            secret,
            key: new,
            at: now,
        })
    }

    /// The key `id` in `workspace_id`; `NotFound` for a malformed id, an unknown one, or one
    /// in another workspace (indistinguishable on purpose).
    async fn load_key(&self, workspace_id: &str, id: &str) -> AppResult<KeyRecord> {
        if !ids::is_well_formed(ids::KEY, id) {
            return Err(AppError::NotFound);
        }
        self.store
            .key(workspace_id, id)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// `Invalid` unless the workspace's policy allows a key expiring at `expires_at`. Runs
    /// under the write lock, so a policy change cannot slip between the check and the write.
    pub(crate) async fn check_policy(
        &self,
        workspace_id: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let policy = self.store.workspace_policy(workspace_id).await?;
        policy
            .check_expiry(expires_at, now)
            .map_err(AppError::invalid)
    }

    /// A rotated key spends its replacement's credit balance (`Store::spend_credits`), so it
    /// shows that balance, not the one it had when it was rotated.
    async fn show_shared_balance(&self, key: &mut KeyRecord) -> AppResult<()> {
        if key.replaced_by.is_none() {
            return Ok(());
        }
        let Some(latest) = self.index.latest_replacement(key) else {
            return Ok(());
        };
        if let Some(stored) = self.store.key(&key.workspace_id, &latest.id).await? {
            key.restrictions.credits = stored.restrictions.credits;
        }
        Ok(())
    }

    fn issue_secret(&self, workspace_id: &str) -> AppResult<ApiKey> {
        let prefix = self
            .index
            .workspace_prefix(workspace_id)
            .ok_or_else(|| AppError::Internal("workspace missing from index".into()))?;
        ApiKey::generate(&prefix).map_err(|e| AppError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(now: DateTime<Utc>) -> KeyRecord {
        KeyRecord {
            imported: false,
            id: "key_1".into(),
            workspace_id: "ws_1".into(),
            name: "billing".into(),
            description: None,
            owner_id: None,
            hash: KeyHash::of("bos_x"),
            start: "bos_x".into(),
            permissions: Vec::new(),
            enabled: true,
            expires_at: None,
            metadata: Map::new(),
            created_at: now,
            updated_at: now,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            restrictions: Restrictions::default(),
        }
    }

    #[test]
    fn a_patch_sets_only_its_fields_and_names_them_in_a_fixed_order() {
        let created = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let later = created + Duration::seconds(60);
        let mut record = key(created);
        let mut patch = KeyPatch::empty(later);
        patch.enabled = Some(false);
        patch.name = Some(KeyName::parse("billing-v2").unwrap());
        patch.rate_limit = Some(Some(RateLimit::new(10, 60).unwrap()));
        patch.owner_id = Some(None);
        let changed = patch.apply(&mut record);
        assert_eq!(changed, ["rate_limit", "name", "owner_id", "enabled"]);
        assert_eq!(record.name, "billing-v2");
        assert!(!record.enabled);
        assert_eq!(record.updated_at, later);
        assert_eq!(record.created_at, created);
        assert!(record.restrictions.rate_limit.is_some());
        assert!(KeyPatch::empty(later).apply(&mut key(created)).is_empty());
    }
}
