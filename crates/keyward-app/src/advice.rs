//! Safety advice in the core (rules: `keyward_core::advice`). Verification hands each `VALID`
//! answer's details to [`AdviceObserver`] through a bounded channel it never waits on (a full
//! channel drops the sighting and counts it); the background task folds them into per-key
//! observations in storage, and a sweep that reads a bounded page of keys per run refreshes
//! the workspace's list and disables keys unused past the workspace's limit. A key's own
//! advice is computed when it is read.

use crate::commit::Change;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::rights::{Caller, KeysRead, KeysWrite, PolicyWrite};
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::advice::{
    advise, auto_disable_due, without_dismissed, AdviceCode, AdviceCursor, AdviceInput, AdviceItem,
    AdviceSettings, Dismissal, KeyAdvice, KeyObservations, Sighting,
};
use keyward_core::{KeyFilter, KeyRecord, KeyStatus, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Sightings waiting for the background task; beyond this verification drops them.
pub const CHANNEL_CAPACITY: usize = 65_536;
/// Keys with unwritten observations held in memory before a write is due anyway.
pub const MAX_PENDING_KEYS: usize = 10_000;
/// Keys a sweep run reads, judges and lists (bounded work per run at any number of keys).
pub const SWEEP_PAGE: u32 = 1_000;
/// Rotation successors followed to find a leaked one.
const MAX_SUCCESSORS: usize = 8;

struct Pending {
    rx: Receiver<(Arc<KeyRecord>, Sighting)>,
    keys: HashMap<(String, String), KeyObservations>,
}

/// Where the sweep goes on: the workspace (by position in the list of workspaces) and the
/// last key of the page read before.
#[derive(Default)]
struct SweepCursor {
    workspace: usize,
    before_id: Option<String>,
}

/// The later of this node's last use of a key and the last use any node observed (the
/// stored observations, merged from every node): a key used only through another node is
/// not disabled as unused.
fn last_use(
    counted: Option<DateTime<Utc>>,
    observed: Option<&KeyObservations>,
) -> Option<DateTime<Utc>> {
    let seen = observed
        .and_then(|o| o.seen)
        .and_then(|s| DateTime::from_timestamp_millis(s.1));
    counted.max(seen)
}

/// Collects what verification saw for the advice, without ever making it wait.
pub struct AdviceObserver {
    tx: SyncSender<(Arc<KeyRecord>, Sighting)>,
    pending: Mutex<Pending>,
    sweep: tokio::sync::Mutex<SweepCursor>,
    dropped: AtomicU64,
}

impl Default for AdviceObserver {
    fn default() -> Self {
        let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
        Self {
            tx,
            pending: Mutex::new(Pending {
                rx,
                keys: HashMap::new(),
            }),
            sweep: tokio::sync::Mutex::new(SweepCursor::default()),
            dropped: AtomicU64::new(0),
        }
    }
}

impl AdviceObserver {
    /// Hands on one `VALID` verification: a non-blocking send, dropped when the channel is
    /// full (advice is convenience; the verification is never held up for it).
    pub fn observe(&self, key: &Arc<KeyRecord>, sighting: Sighting) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send((key.clone(), sighting))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sightings dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Folds waiting sightings into the pending observations; true when enough keys are
    /// pending that a write is due.
    pub fn drain(&self) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let Pending { rx, keys } = &mut *pending;
        for _ in 0..CHANNEL_CAPACITY {
            let Ok((key, sighting)) = rx.try_recv() else {
                break;
            };
            keys.entry((key.workspace_id.clone(), key.id.clone()))
                .or_insert_with(|| KeyObservations::new(&key.workspace_id, &key.id))
                .record(&sighting);
        }
        keys.len() >= MAX_PENDING_KEYS
    }

    fn take(&self) -> HashMap<(String, String), KeyObservations> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut pending.keys)
    }

    fn give_back(&self, taken: HashMap<(String, String), KeyObservations>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (k, obs) in taken {
            pending
                .keys
                .entry(k)
                .or_insert_with(|| KeyObservations::new(&obs.workspace_id, &obs.key_id))
                .merge(&obs);
        }
    }
}

impl Keyward {
    /// Called by `verify` for a `VALID` answer.
    pub(crate) fn observe_for_advice(&self, key: &Arc<KeyRecord>, sighting: Sighting) {
        self.advice.observe(key, sighting);
    }

    /// Folds waiting sightings in; true when a write of observations is due.
    pub fn drain_advice_sightings(&self) -> bool {
        self.advice.drain()
    }

    /// Writes the observations gathered since the last write, merged into what storage
    /// holds (another node's too); on failure they wait for the next write.
    pub async fn flush_advice_observations(&self) -> AppResult<usize> {
        self.advice.drain();
        let taken = self.advice.take();
        if taken.is_empty() {
            return Ok(0);
        }
        match self.write_observations(&taken).await {
            Ok(n) => Ok(n),
            Err(e) => {
                self.advice.give_back(taken);
                Err(e.into())
            }
        }
    }

    async fn write_observations(
        &self,
        taken: &HashMap<(String, String), KeyObservations>,
    ) -> Result<usize, StoreError> {
        let mut by_workspace: HashMap<&str, Vec<&KeyObservations>> = HashMap::new();
        for ((ws, _), obs) in taken {
            by_workspace.entry(ws.as_str()).or_default().push(obs);
        }
        let mut written = 0;
        for (ws, list) in by_workspace {
            for chunk in list.chunks(500) {
                let ids: Vec<String> = chunk.iter().map(|o| o.key_id.clone()).collect();
                let mut stored: HashMap<String, KeyObservations> = self
                    .store
                    .key_observations(ws, &ids)
                    .await?
                    .into_iter()
                    .map(|o| (o.key_id.clone(), o))
                    .collect();
                let merged: Vec<KeyObservations> = chunk
                    .iter()
                    .map(|new| {
                        let mut obs = stored
                            .remove(&new.key_id)
                            .unwrap_or_else(|| KeyObservations::new(ws, &new.key_id));
                        obs.merge(new);
                        obs
                    })
                    .collect();
                self.store.put_key_observations(&merged).await?;
                written += merged.len();
            }
        }
        Ok(written)
    }

    async fn settings_of(&self, workspace_id: &str) -> Result<AdviceSettings, StoreError> {
        Ok(self
            .store
            .advice_settings(workspace_id)
            .await?
            .unwrap_or_default())
    }

    /// The keys that replaced `key`, in rotation order.
    async fn successors(&self, key: &KeyRecord) -> Result<Vec<KeyRecord>, StoreError> {
        let mut chain = Vec::new();
        let mut next = key.replaced_by.clone();
        while let Some(id) = next {
            if chain.len() >= MAX_SUCCESSORS {
                break;
            }
            let Some(successor) = self.store.key(&key.workspace_id, &id).await? else {
                break;
            };
            next = successor.replaced_by.clone();
            chain.push(successor);
        }
        Ok(chain)
    }

    async fn judge(
        &self,
        key: &KeyRecord,
        observations: Option<&KeyObservations>,
        settings: &AdviceSettings,
        dismissals: &[Dismissal],
        now: DateTime<Utc>,
    ) -> Result<Vec<AdviceItem>, StoreError> {
        let successors = self.successors(key).await?;
        let items = advise(&AdviceInput {
            key,
            last_used_at: self.usage.get(&key.id).0,
            observations,
            settings,
            successors: &successors,
            now,
        });
        let mine: Vec<Dismissal> = dismissals
            .iter()
            .filter(|d| d.key_id == key.id)
            .cloned()
            .collect();
        Ok(without_dismissed(items, &mine))
    }

    /// The advice for one key, worst first, judged now (dismissed items left out).
    pub async fn key_advice(
        &self,
        caller: &Caller<'_, KeysRead>,
        key_id: &str,
    ) -> AppResult<Vec<AdviceItem>> {
        let key = self
            .store
            .key(caller.workspace_id(), key_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.advice_of(&key).await
    }

    pub(crate) async fn advice_of(&self, key: &KeyRecord) -> AppResult<Vec<AdviceItem>> {
        let ws = &key.workspace_id;
        let ids = [key.id.clone()];
        let settings = self.settings_of(ws).await?;
        let obs = self.store.key_observations(ws, &ids).await?;
        let dismissals = self.store.advice_dismissals(ws, &ids).await?;
        Ok(self
            .judge(key, obs.first(), &settings, &dismissals, self.clock.now())
            .await?)
    }

    /// The workspace's advice, worst first, as the sweep last listed it.
    pub async fn workspace_advice(
        &self,
        caller: &Caller<'_, KeysRead>,
        after: Option<&AdviceCursor>,
        limit: u32,
    ) -> AppResult<Vec<KeyAdvice>> {
        Ok(self
            .store
            .advice(caller.workspace_id(), after, limit.clamp(1, 1000))
            .await?)
    }

    /// Hides the key's item `code` until its evidence changes, recording who did it.
    pub async fn dismiss_advice(
        &self,
        caller: &Caller<'_, KeysWrite>,
        key_id: &str,
        code: AdviceCode,
    ) -> AppResult<Dismissal> {
        let key = self
            .store
            .key(caller.workspace_id(), key_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let item = self
            .advice_of(&key)
            .await?
            .into_iter()
            .find(|i| i.code == code)
            .ok_or_else(|| {
                AppError::Conflict(format!(
                    "the key has no {} advice to dismiss",
                    code.as_str()
                ))
            })?;
        let now = self.clock.now();
        let dismissal = Dismissal {
            workspace_id: key.workspace_id.clone(),
            key_id: key.id.clone(),
            code,
            fingerprint: item.fingerprint,
            dismissed_by: caller.principal().id().to_owned(),
            dismissed_at: now,
        };
        let event = events::advice_dismissed(caller.principal(), &key, code, now);
        self.writer()
            .await
            .commit(Change::Dismissal(&dismissal), event)
            .await?;
        Ok(dismissal)
    }

    pub async fn advice_settings(
        &self,
        caller: &Caller<'_, KeysRead>,
    ) -> AppResult<AdviceSettings> {
        Ok(self.settings_of(caller.workspace_id()).await?)
    }

    pub async fn set_advice_settings(
        &self,
        caller: &Caller<'_, PolicyWrite>,
        settings: AdviceSettings,
    ) -> AppResult<AdviceSettings> {
        let settings = settings.checked().map_err(AppError::invalid)?;
        let now = self.clock.now();
        let event = events::advice_settings_updated(caller.principal(), &settings, now);
        self.writer()
            .await
            .commit(
                Change::AdviceSettings(caller.workspace_id(), &settings),
                event,
            )
            .await?;
        Ok(settings)
    }

    /// One bounded run of the sweep: the next page of at most `SWEEP_PAGE` live keys of one
    /// workspace is judged, listed and, where the workspace says so, disabled. Returns true
    /// when the run finished a pass over every workspace.
    pub async fn sweep_advice(&self) -> AppResult<bool> {
        let mut cursor = self.advice.sweep.lock().await;
        let workspaces = self.store.workspaces().await?;
        let Some(ws) = workspaces.get(cursor.workspace) else {
            *cursor = SweepCursor::default();
            return Ok(true);
        };
        let now = self.clock.now();
        let filter = KeyFilter {
            owner_id: None,
            status: None,
            now,
            before_id: cursor.before_id.clone(),
            limit: SWEEP_PAGE,
        };
        let keys = self.store.list_keys(&ws.id, &filter).await?;
        let settings = self.settings_of(&ws.id).await?;
        let ids: Vec<String> = keys.iter().map(|k| k.id.clone()).collect();
        let observations: HashMap<String, KeyObservations> = self
            .store
            .key_observations(&ws.id, &ids)
            .await?
            .into_iter()
            .map(|o| (o.key_id.clone(), o))
            .collect();
        let dismissals = self.store.advice_dismissals(&ws.id, &ids).await?;
        let mut listed = Vec::new();
        for key in &keys {
            let last_used = last_use(self.usage.get(&key.id).0, observations.get(&key.id));
            if auto_disable_due(key, last_used, &settings, now) {
                self.auto_disable(key, &settings).await?;
            }
            let items = self
                .judge(key, observations.get(&key.id), &settings, &dismissals, now)
                .await?;
            listed.extend(items.into_iter().map(|item| KeyAdvice {
                workspace_id: ws.id.clone(),
                key_id: key.id.clone(),
                key_name: key.name.clone(),
                item,
            }));
        }
        self.store.replace_advice(&ws.id, &ids, &listed).await?;
        match keys.last() {
            Some(last) if keys.len() == SWEEP_PAGE as usize => {
                cursor.before_id = Some(last.id.clone());
            }
            _ => {
                cursor.workspace += 1;
                cursor.before_id = None;
            }
        }
        let done = cursor.workspace >= workspaces.len();
        if done {
            *cursor = SweepCursor::default();
        }
        Ok(done)
    }

    /// Runs the sweep until it has passed over every workspace once (tests, and an
    /// operator's refresh).
    pub async fn sweep_advice_pass(&self) -> AppResult<()> {
        *self.advice.sweep.lock().await = SweepCursor::default();
        while !self.sweep_advice().await? {}
        Ok(())
    }

    /// Disables `key` (as read by the sweep) if it is still due under the write lock.
    async fn auto_disable(&self, key: &KeyRecord, settings: &AdviceSettings) -> AppResult<()> {
        let writer = self.writer().await;
        let now = self.clock.now();
        let Some(mut current) = self.store.key(&key.workspace_id, &key.id).await? else {
            return Ok(());
        };
        let stored = self
            .store
            .key_observations(&key.workspace_id, std::slice::from_ref(&key.id))
            .await?;
        let last_used = last_use(self.usage.get(&key.id).0, stored.first());
        if current.status(now) != KeyStatus::Active
            || !auto_disable_due(&current, last_used, settings, now)
        {
            return Ok(());
        }
        current.enabled = false;
        current.updated_at = now;
        let days = settings.auto_disable_days.unwrap_or_default();
        let event = events::key_auto_disabled(&current, days, last_used, now);
        writer.commit(Change::Key(&current), event).await?;
        tracing::info!(key_id = %current.id, workspace_id = %current.workspace_id, "key disabled after going unused");
        Ok(())
    }
}
