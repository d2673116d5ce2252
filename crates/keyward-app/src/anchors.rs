//! Anchoring: each workspace's chain head signed with the anchor key, periodically (only
//! when the head moved) and on demand, and appended to the anchor log, an NDJSON file beside
//! the database meant to be shipped elsewhere (as CloudTrail delivers its digest files to
//! another bucket). An anchor kept out of a database writer's reach is what
//! `audit verify --anchor` checks the chain against.

use keyward_core::anchor::{AnchorPublicKey, AnchorSigningKey, SignedAnchor};
use keyward_core::{Clock, Store, StoreError};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The anchorer for `keyward serve`: the key from `key` (default `<database file>.anchor-key`,
/// created if missing), anchors appended to `log` (default `<database file>.audit-anchors`).
/// `None` (anchoring off) for an in-memory database without `key`.
pub fn configure(
    database_file: Option<&Path>,
    key: Option<PathBuf>,
    log: Option<PathBuf>,
    interval: Duration,
) -> Result<Option<Anchorer>, crate::anchor_key::AnchorKeyError> {
    let beside = |suffix: &str| {
        database_file.map(|db| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
    };
    let Some(key_path) = key.or_else(|| beside(".anchor-key")) else {
        return Ok(None);
    };
    let signing_key = crate::anchor_key::load_or_create(&key_path)?;
    let log = log.or_else(|| beside(".audit-anchors"));
    tracing::info!(
        key = %key_path.display(),
        public_key = %signing_key.public_key().to_hex(),
        "audit anchors"
    );
    Ok(Some(Anchorer::new(signing_key, log, interval)))
}

/// How often the server signs the heads that moved, by default: a database writer's edits
/// after the newest anchor are what an anchor cannot catch, so the window is kept short; a
/// signature costs microseconds and an idle chain is not signed again.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

pub struct Anchorer {
    /// Shared with the chain verifier, which signs verified prefixes with it.
    pub(crate) key: std::sync::Arc<AnchorSigningKey>,
    /// How often [`Anchorer::sign_moved`] runs.
    pub interval: Duration,
    /// The anchor log (none: anchors are only answered, not written).
    log: Option<PathBuf>,
    /// The anchor last signed (and logged) per workspace, so an idle chain is not signed
    /// again and again, nor its anchor appended to the log again, and asking again answers
    /// the anchor the log holds.
    last: tokio::sync::Mutex<HashMap<String, SignedAnchor>>,
}

impl Anchorer {
    pub fn new(key: AnchorSigningKey, log: Option<PathBuf>, interval: Duration) -> Self {
        Self {
            key: std::sync::Arc::new(key),
            interval,
            log,
            last: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn public_key(&self) -> AnchorPublicKey {
        self.key.public_key()
    }

    /// Signs the workspace's current head and appends it to the anchor log, unless that head
    /// is the one last signed: then the anchor the log already holds is answered, so a caller
    /// asking again and again cannot grow the file and every anchor answered is one the log
    /// has; `None` for a chain without events.
    pub async fn sign(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        workspace_id: &str,
    ) -> Result<Option<SignedAnchor>, StoreError> {
        let mut last = self.last.lock().await;
        let Some(head) = store.anchor_point(workspace_id).await? else {
            return Ok(None);
        };
        if let Some(logged) = last.get(workspace_id) {
            if logged.seq == head.seq && logged.hash == head.hash {
                return Ok(Some(logged.clone()));
            }
        }
        let anchor = self.key.sign(workspace_id, &head, clock.now());
        self.append(&anchor)?;
        last.insert(workspace_id.to_owned(), anchor.clone());
        tracing::info!(workspace_id, seq = head.seq, "signed an audit anchor");
        Ok(Some(anchor))
    }

    /// Signs every workspace whose head moved since its last anchor.
    pub async fn sign_moved(&self, store: &dyn Store, clock: &dyn Clock) -> Result<(), StoreError> {
        for workspace in store.workspaces().await? {
            let moved = match store.anchor_point(&workspace.id).await? {
                Some(head) => self
                    .last
                    .lock()
                    .await
                    .get(&workspace.id)
                    .is_none_or(|logged| logged.seq != head.seq || logged.hash != head.hash),
                None => false,
            };
            if moved {
                self.sign(store, clock, &workspace.id).await?;
            }
        }
        Ok(())
    }

    /// One line in the anchor log, synced: an anchor that was answered is on disk.
    fn append(&self, anchor: &SignedAnchor) -> Result<(), StoreError> {
        let Some(path) = &self.log else {
            return Ok(());
        };
        let failed = |e: std::io::Error| {
            StoreError::Unavailable(format!("writing the anchor log {}: {e}", path.display()))
        };
        let mut line = serde_json::to_vec(anchor).map_err(|e| failed(std::io::Error::other(e)))?;
        line.push(b'\n');
        // Created 0644 whatever the umask; an existing log keeps the mode it was given.
        let mut file = match std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
        {
            Ok(file) => {
                crate::anchor_key::set_public_mode(&file).map_err(failed)?;
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(failed)?,
            Err(e) => return Err(failed(e)),
        };
        file.write_all(&line).map_err(failed)?;
        file.sync_data().map_err(failed)
    }
}
