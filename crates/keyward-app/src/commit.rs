//! The write path, written once: take the write lock, commit the change together with its
//! audit event in one store transaction, then update the index — so a change is visible to
//! verification only once it is durable, and the index changes in the order the store did.
//! A [`Writer`] holds the lock; only it can commit.

use crate::error::AppResult;
use crate::service::Keyward;
use keyward_core::advice::{AdviceSettings, Dismissal};
use keyward_core::{KeyRecord, NewEvent, RootKey, WorkspacePolicy, WorkspaceSettings};
use tokio::sync::MutexGuard;

/// A management change, written with its event by [`Writer::commit`].
#[derive(Clone, Copy)]
pub(crate) enum Change<'a> {
    /// A new key.
    NewKey(&'a KeyRecord),
    /// A key changed in anything but its credit balance (`Store::update_key` never writes
    /// the balance, so an update cannot write back one read before a spend).
    Key(&'a KeyRecord),
    /// A key changed together with its credit balance.
    KeyAndCredits(&'a KeyRecord),
    /// A rotation: the old key marked replaced, its replacement created.
    Rotation {
        old: &'a KeyRecord,
        new: &'a KeyRecord,
    },
    NewRootKey(&'a RootKey),
    RootKey(&'a RootKey),
    Settings(&'a WorkspaceSettings),
    Policy(&'a str, &'a WorkspacePolicy),
    /// No record changes; only the event is written (a leak report of a revoked key).
    EventOnly,
    /// A safety advice item dismissed (`advice.rs`).
    Dismissal(&'a Dismissal),
    /// A workspace's advice settings.
    AdviceSettings(&'a str, &'a AdviceSettings),
}

/// The write lock, held: read-modify-write of keys, root keys and workspace state happens
/// while one lives.
pub(crate) struct Writer<'k> {
    app: &'k Keyward,
    _guard: MutexGuard<'k, ()>,
}

impl Keyward {
    pub(crate) async fn writer(&self) -> Writer<'_> {
        Writer {
            _guard: self.writes.lock().await,
            app: self,
        }
    }
}

impl Writer<'_> {
    /// Commits `change` with `event` in one transaction, then updates the index.
    pub(crate) async fn commit(&self, change: Change<'_>, event: NewEvent) -> AppResult<()> {
        let (store, index) = (self.app.store.as_ref(), &self.app.index);
        match change {
            Change::NewKey(key) => store.insert_key(key, event).await?,
            Change::Key(key) => store.update_key(key, event).await?,
            Change::KeyAndCredits(key) => store.update_key_and_credits(key, event).await?,
            Change::Rotation { old, new } => store.rotate_key(old, new, event).await?,
            Change::NewRootKey(root) => store.insert_root_key(root, event).await?,
            Change::RootKey(root) => store.update_root_key(root, event).await?,
            Change::Settings(settings) => store.put_workspace_settings(settings, event).await?,
            Change::Policy(workspace_id, policy) => {
                store
                    .set_workspace_policy(workspace_id, policy, event)
                    .await?
            }
            Change::EventOnly => store.append_events(vec![event]).await?,
            Change::Dismissal(dismissal) => store.dismiss_advice(dismissal, event).await?,
            Change::AdviceSettings(workspace_id, settings) => {
                store
                    .set_advice_settings(workspace_id, settings, event)
                    .await?
            }
        }
        match change {
            Change::NewKey(key) | Change::Key(key) | Change::KeyAndCredits(key) => {
                index.put_key(key.clone())
            }
            Change::Rotation { old, new } => {
                index.put_key(old.clone());
                index.put_key(new.clone());
            }
            Change::NewRootKey(root) | Change::RootKey(root) => index.put_root_key(root.clone()),
            Change::Settings(settings) => index.put_settings(settings.clone()),
            Change::Policy(..)
            | Change::EventOnly
            | Change::Dismissal(_)
            | Change::AdviceSettings(..) => {}
        }
        Ok(())
    }
}
