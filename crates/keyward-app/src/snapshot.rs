//! Index snapshots: the verification index's keys written to a private file beside the
//! database and read back at start instead of every key row, then brought up to date from
//! the change log (`keyward_core::changes`).
//!
//! A snapshot names the change it was taken at: its sequence number, the object it named and
//! when it was recorded. It is used only while the database's change log still holds that
//! very change. A snapshot of another database, of a database since restored from an older
//! copy, or older than the retained log ([`crate::follow::CHANGE_RETENTION`]) is set aside,
//! as is a file whose format version or checksum does not match: the index is then read from
//! every key, as without a snapshot. Every change after the snapshot's is applied as the
//! follower applies them (the changed key re-read from the store), so a key revoked, rotated
//! or changed since is as the database has it before the first verification.
//!
//! Only keys are in the file; root keys, workspaces and their settings are few and are read
//! from the database at every start. A credit balance is in the file as the index held it,
//! as a full load holds the balance it read: spending reads and writes the database's
//! balance, never the index's.
//!
//! The file holds every key's digest, as the database does: it is created `0600`, written
//! whole to a temporary file, synced and renamed over the old one, and never logged.

use crate::follow;
use crate::index::KeyIndex;
use crate::service::Keyward;
use chrono::{DateTime, Utc};
use keyward_core::{
    Change, Credits, IpRange, KeyHash, KeyRecord, Origin, Permission, RateLimit, Refill,
    Restrictions, Store, StoreError,
};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a running server writes a snapshot, when the change log moved since the last.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(600);

const MAGIC: &[u8; 8] = b"KWINDEX\n";
/// The format's version; a file of another version is set aside.
const VERSION: u32 = 1;
/// Changes read per query while bringing a snapshot up to date.
const PAGE: u32 = 512;
/// Keys placed in the index at a time.
const BATCH: usize = 4096;
/// The longest text a snapshot may hold; a longer length is a damaged file, read no further.
const MAX_TEXT: u32 = 16 << 20;
/// Tags before each key record and after the last.
const KEY: u8 = 1;
const END: u8 = 0;

/// The change a snapshot was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    seq: i64,
    at_ms: i64,
    workspace_id: String,
    object: String,
    id: String,
}

impl Mark {
    fn of(change: &Change, at: DateTime<Utc>) -> Self {
        Self {
            seq: change.seq,
            at_ms: at.timestamp_millis(),
            workspace_id: change.workspace_id.clone(),
            object: change.object.as_str().to_owned(),
            id: change.id.clone(),
        }
    }
}

/// The index from the snapshot at `path`, brought up to date from the change log; `None`
/// when there is no usable snapshot (the reason is logged), and the caller reads every key.
pub async fn load(path: &Path, store: &dyn Store) -> Result<Option<KeyIndex>, StoreError> {
    let started = Instant::now();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::info!("no index snapshot yet; reading every key");
            return Ok(None);
        }
        Err(e) => {
            tracing::warn!(error = %e, "the index snapshot cannot be opened; reading every key");
            return Ok(None);
        }
    };
    let mut input = In::new(BufReader::with_capacity(1 << 20, file));
    let mark = match read_header(&mut input) {
        Ok(mark) => mark,
        Err(e) => {
            tracing::warn!(error = %e, "the index snapshot is unreadable; reading every key");
            return Ok(None);
        }
    };
    let held = store.change_at(mark.seq).await?;
    if held.map(|(change, at)| Mark::of(&change, at)).as_ref() != Some(&mark) {
        tracing::info!(
            seq = mark.seq,
            "the index snapshot is not of this database's history, or older than its change \
             log; reading every key"
        );
        return Ok(None);
    }
    let read = tokio::task::spawn_blocking(move || {
        let index = KeyIndex::default();
        read_keys(&mut input, &index).map(|()| index)
    })
    .await;
    let index = match read {
        Ok(Ok(index)) => index,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the index snapshot is damaged; reading every key");
            return Ok(None);
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the index snapshot failed; reading every key");
            return Ok(None);
        }
    };
    let Some(applied) = catch_up(&index, store, mark.seq).await? else {
        tracing::info!("the change log no longer holds every change since the index snapshot; reading every key");
        return Ok(None);
    };
    index.reload_root_keys(store).await?;
    index.reload_workspaces(store).await?;
    let memory = index.key_memory();
    tracing::info!(
        keys = memory.keys,
        bytes_per_key = memory.bytes_per_key(),
        changes_applied = applied - mark.seq,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "key index loaded from its snapshot"
    );
    Ok(Some(index))
}

/// Applies every change after `seq` to `index`; the last change applied, or `None` when the
/// log no longer holds the change right after `seq` (pruned).
async fn catch_up(
    index: &KeyIndex,
    store: &dyn Store,
    mut seq: i64,
) -> Result<Option<i64>, StoreError> {
    loop {
        let page = store.changes_since(seq, PAGE).await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(Some(seq));
        };
        if first.seq != seq + 1 {
            return Ok(None);
        }
        follow::apply_to(index, store, &page).await?;
        seq = last.seq;
        if page.len() < PAGE as usize {
            return Ok(Some(seq));
        }
    }
}

/// What writing a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A new snapshot of this many keys replaced the file.
    Keys(usize),
    /// The file already holds the index as of the log's last change.
    Current,
    /// Nothing to name: the change log is empty, or its last change is gone.
    NoMark,
    /// The log no longer holds every change since this node last read it, so the index may
    /// miss one another process made: no snapshot is written from it.
    Behind,
    /// The node follows other nodes' writes; its snapshots are not written.
    Following,
}

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the index snapshot: {0}")]
    Io(#[from] io::Error),
}

/// Writes a node's snapshots to one file, remembering how far it has read the change log.
pub struct SnapshotWriter {
    path: PathBuf,
    /// The log position the index is known complete as of (changes up to it applied).
    known: tokio::sync::Mutex<i64>,
}

impl SnapshotWriter {
    /// A writer of `path` for `app`, whose index is complete as of the log position read
    /// before it was loaded.
    pub fn new(app: &Keyward, path: PathBuf) -> Self {
        Self {
            path,
            known: tokio::sync::Mutex::new(app.loaded_seq),
        }
    }

    /// Writes the index to the file, as of the change log's last change, under the write
    /// lock (management writes wait; verifications do not). Changes another process made
    /// since the index was read are applied first.
    pub async fn write(&self, app: &Keyward) -> Result<Written, SnapshotError> {
        if app.freshness.is_some() {
            return Ok(Written::Following);
        }
        let mut known = self.known.lock().await;
        let writes = Arc::clone(&app.writes).lock_owned().await;
        let store = app.store.as_ref();
        let Some(seq) = catch_up(&app.index, store, *known).await? else {
            return Ok(Written::Behind);
        };
        *known = seq;
        let Some((change, at)) = store.change_at(seq).await? else {
            return Ok(Written::NoMark);
        };
        let mark = Mark::of(&change, at);
        let (path, index) = (self.path.clone(), Arc::clone(&app.index));
        let written = tokio::task::spawn_blocking(move || {
            let _writes = writes;
            if read_mark(&path).ok().as_ref() == Some(&mark) {
                return Ok(Written::Current);
            }
            write_file(&path, &mark, &index).map(Written::Keys)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(written)
    }
}

/// Writes a snapshot every [`SNAPSHOT_INTERVAL`] (the first at once), until the process ends.
pub fn spawn(app: Keyward, writer: Arc<SnapshotWriter>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SNAPSHOT_INTERVAL);
        loop {
            tick.tick().await;
            log_written(writer.write(&app).await);
        }
    });
}

/// Logs what a write did (counts and positions only).
pub fn log_written(written: Result<Written, SnapshotError>) {
    match written {
        Ok(Written::Keys(keys)) => tracing::info!(keys, "wrote the index snapshot"),
        Ok(Written::Behind) => tracing::warn!(
            "the change log no longer holds every change since the index was read; no index \
             snapshot written (the next start reads every key)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "writing the index snapshot failed; will retry"),
    }
}

/// Writes `index` to a new private file and renames it over `path`; returns the key count.
fn write_file(path: &Path, mark: &Mark, index: &KeyIndex) -> io::Result<usize> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let file = create_private(&temporary)?;
    let mut out = Out::new(BufWriter::with_capacity(1 << 20, file));
    write_header(&mut out, mark)?;
    let mut tables = Tables::default();
    let mut keys = 0;
    index.each_key(|key| {
        keys += 1;
        out.u8(KEY)?;
        write_key(&mut out, &mut tables, &key)
    })?;
    out.u8(END)?;
    let crc = out.crc.clone().finalize();
    out.inner.write_all(&crc.to_le_bytes())?;
    let file = out
        .inner
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(keys)
}

fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // Whatever the umask: only the server's user reads key digests.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// The mark of the snapshot at `path`, read from its header only.
fn read_mark(path: &Path) -> io::Result<Mark> {
    read_header(&mut In::new(BufReader::new(File::open(path)?)))
}

fn write_header<W: Write>(out: &mut Out<W>, mark: &Mark) -> io::Result<()> {
    out.bytes(MAGIC)?;
    out.u32(VERSION)?;
    out.i64(mark.seq)?;
    out.i64(mark.at_ms)?;
    out.str(&mark.workspace_id)?;
    out.str(&mark.object)?;
    out.str(&mark.id)
}

fn read_header<R: Read>(input: &mut In<R>) -> io::Result<Mark> {
    let mut magic = [0u8; 8];
    input.bytes(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not an index snapshot"));
    }
    if input.u32()? != VERSION {
        return Err(invalid("another format version"));
    }
    Ok(Mark {
        seq: input.i64()?,
        at_ms: input.i64()?,
        workspace_id: input.string()?,
        object: input.string()?,
        id: input.string()?,
    })
}

/// Workspace ids and permission sets written so far, each once: a key names one by number,
/// and a number not seen before is followed by its value.
#[derive(Default)]
struct Tables {
    workspaces: HashMap<String, u32>,
    permission_sets: HashMap<Vec<Permission>, u32>,
}

fn write_key<W: Write>(out: &mut Out<W>, tables: &mut Tables, key: &KeyRecord) -> io::Result<()> {
    out.bytes(key.hash.as_bytes())?;
    let next = u32::try_from(tables.workspaces.len()).map_err(io::Error::other)?;
    match tables.workspaces.get(&key.workspace_id) {
        Some(&n) => out.u32(n)?,
        None => {
            tables.workspaces.insert(key.workspace_id.clone(), next);
            out.u32(next)?;
            out.str(&key.workspace_id)?;
        }
    }
    let next = u32::try_from(tables.permission_sets.len()).map_err(io::Error::other)?;
    match tables.permission_sets.get(&key.permissions) {
        Some(&n) => out.u32(n)?,
        None => {
            tables.permission_sets.insert(key.permissions.clone(), next);
            out.u32(next)?;
            out.len(key.permissions.len())?;
            for permission in &key.permissions {
                out.str(permission.as_str())?;
            }
        }
    }
    out.u8(u8::from(key.imported) | u8::from(key.enabled) << 1)?;
    out.str(&key.id)?;
    out.str(&key.name)?;
    out.str(&key.start)?;
    out.optional_str(key.description.as_deref())?;
    out.optional_str(key.owner_id.as_deref())?;
    out.optional_str(key.revoked_reason.as_deref())?;
    out.optional_str(key.replaced_by.as_deref())?;
    let metadata = (!key.metadata.is_empty())
        .then(|| serde_json::Value::Object(key.metadata.clone()).to_string());
    out.optional_str(metadata.as_deref())?;
    out.time(key.created_at)?;
    out.time(key.updated_at)?;
    out.optional_time(key.expires_at)?;
    out.optional_time(key.revoked_at)?;
    let restrictions = &key.restrictions;
    out.len(restrictions.ip_allowlist.len())?;
    for range in &restrictions.ip_allowlist {
        out.str(&range.to_string())?;
    }
    out.len(restrictions.origin_allowlist.len())?;
    for origin in &restrictions.origin_allowlist {
        out.str(&origin.to_string())?;
    }
    match &restrictions.credits {
        None => out.u8(0)?,
        Some(credits) => {
            out.u8(1)?;
            out.u64(credits.remaining)?;
            match credits.refill {
                None => out.u8(0)?,
                Some(refill) => {
                    out.u8(1)?;
                    out.u64(refill.amount)?;
                    out.u64(refill.interval_seconds)?;
                }
            }
            out.time(credits.refilled_at)?;
        }
    }
    match restrictions.rate_limit {
        None => out.u8(0),
        Some(limit) => {
            out.u8(1)?;
            out.u64(limit.limit)?;
            out.u64(limit.window_seconds)
        }
    }
}

/// Reads every key into `index`, then checks the checksum over the whole file: a damaged
/// file is an error, and the caller drops the index it was reading into.
fn read_keys<R: Read>(input: &mut In<R>, index: &KeyIndex) -> io::Result<()> {
    let mut workspaces: Vec<String> = Vec::new();
    let mut permission_sets: Vec<Vec<Permission>> = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        match input.u8()? {
            KEY => {}
            END => break,
            _ => return Err(invalid("an unknown record tag")),
        }
        batch.push(read_key(input, &mut workspaces, &mut permission_sets)?);
        if batch.len() == BATCH {
            index.put_keys(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
        }
    }
    index.put_keys(batch);
    let computed = input.crc.clone().finalize();
    let mut stored = [0u8; 4];
    input.inner.read_exact(&mut stored)?;
    if u32::from_le_bytes(stored) != computed {
        return Err(invalid("checksum mismatch"));
    }
    let mut rest = [0u8; 1];
    if input.inner.read(&mut rest)? != 0 {
        return Err(invalid("bytes after the checksum"));
    }
    index.finish_keys();
    Ok(())
}

fn read_key<R: Read>(
    input: &mut In<R>,
    workspaces: &mut Vec<String>,
    permission_sets: &mut Vec<Vec<Permission>>,
) -> io::Result<KeyRecord> {
    let mut digest = [0u8; 32];
    input.bytes(&mut digest)?;
    let hash = KeyHash::from_bytes(&digest).ok_or_else(|| invalid("a digest"))?;
    let n = input.u32()? as usize;
    if n == workspaces.len() {
        workspaces.push(input.string()?);
    }
    let workspace_id = workspaces
        .get(n)
        .cloned()
        .ok_or_else(|| invalid("a workspace number"))?;
    let n = input.u32()? as usize;
    if n == permission_sets.len() {
        let count = input.u32()?;
        let mut set = Vec::new();
        for _ in 0..count {
            set.push(Permission::parse(&input.string()?).map_err(|_| invalid("a permission"))?);
        }
        permission_sets.push(set);
    }
    let permissions = permission_sets
        .get(n)
        .cloned()
        .ok_or_else(|| invalid("a permission set number"))?;
    let flags = input.u8()?;
    let id = input.string()?;
    let name = input.string()?;
    let start = input.string()?;
    let description = input.optional_string()?;
    let owner_id = input.optional_string()?;
    let revoked_reason = input.optional_string()?;
    let replaced_by = input.optional_string()?;
    let metadata = match input.optional_string()? {
        None => Default::default(),
        Some(json) => serde_json::from_str(&json).map_err(|_| invalid("metadata"))?,
    };
    let created_at = input.time()?;
    let updated_at = input.time()?;
    let expires_at = input.optional_time()?;
    let revoked_at = input.optional_time()?;
    let mut ip_allowlist = Vec::new();
    for _ in 0..input.u32()? {
        ip_allowlist.push(IpRange::parse(&input.string()?).map_err(|_| invalid("an IP range"))?);
    }
    let mut origin_allowlist = Vec::new();
    for _ in 0..input.u32()? {
        origin_allowlist.push(Origin::parse(&input.string()?).map_err(|_| invalid("an origin"))?);
    }
    let credits = match input.u8()? {
        0 => None,
        _ => {
            let remaining = input.u64()?;
            let refill = match input.u8()? {
                0 => None,
                _ => Some(Refill {
                    amount: input.u64()?,
                    interval_seconds: input.u64()?,
                }),
            };
            Some(Credits {
                remaining,
                refill,
                refilled_at: input.time()?,
            })
        }
    };
    let rate_limit = match input.u8()? {
        0 => None,
        _ => Some(RateLimit {
            limit: input.u64()?,
            window_seconds: input.u64()?,
        }),
    };
    Ok(KeyRecord {
        id,
        workspace_id,
        name,
        description,
        owner_id,
        hash,
        start,
        imported: flags & 1 != 0,
        permissions,
        enabled: flags & 2 != 0,
        expires_at,
        metadata,
        created_at,
        updated_at,
        revoked_at,
        revoked_reason,
        replaced_by,
        restrictions: Restrictions {
            ip_allowlist,
            origin_allowlist,
            credits,
            rate_limit,
        },
    })
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A writer that checksums what it writes; numbers little-endian, texts behind a `u32`
/// length (`u32::MAX` for an absent one), times as seconds and nanoseconds.
struct Out<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Out<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
        }
    }

    fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }

    fn u8(&mut self, n: u8) -> io::Result<()> {
        self.bytes(&[n])
    }

    fn u32(&mut self, n: u32) -> io::Result<()> {
        self.bytes(&n.to_le_bytes())
    }

    fn u64(&mut self, n: u64) -> io::Result<()> {
        self.bytes(&n.to_le_bytes())
    }

    fn i64(&mut self, n: i64) -> io::Result<()> {
        self.bytes(&n.to_le_bytes())
    }

    fn len(&mut self, len: usize) -> io::Result<()> {
        match u32::try_from(len) {
            Ok(n) if n < MAX_TEXT => self.u32(n),
            _ => Err(invalid("a text or list too long for a snapshot")),
        }
    }

    fn str(&mut self, text: &str) -> io::Result<()> {
        self.len(text.len())?;
        self.bytes(text.as_bytes())
    }

    fn optional_str(&mut self, text: Option<&str>) -> io::Result<()> {
        match text {
            Some(text) => self.str(text),
            None => self.u32(u32::MAX),
        }
    }

    fn time(&mut self, t: DateTime<Utc>) -> io::Result<()> {
        self.i64(t.timestamp())?;
        self.u32(t.timestamp_subsec_nanos())
    }

    fn optional_time(&mut self, t: Option<DateTime<Utc>>) -> io::Result<()> {
        match t {
            Some(t) => {
                self.u8(1)?;
                self.time(t)
            }
            None => self.u8(0),
        }
    }
}

/// The reading side of [`Out`].
struct In<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> In<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
        }
    }

    fn bytes(&mut self, into: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(into)?;
        self.crc.update(into);
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.bytes(&mut bytes)?;
        Ok(bytes)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> io::Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn text(&mut self, len: u32) -> io::Result<String> {
        if len >= MAX_TEXT {
            return Err(invalid("a text length"));
        }
        let mut bytes = vec![0u8; len as usize];
        self.bytes(&mut bytes)?;
        String::from_utf8(bytes).map_err(|_| invalid("a text"))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.u32()?;
        self.text(len)
    }

    fn optional_string(&mut self) -> io::Result<Option<String>> {
        match self.u32()? {
            u32::MAX => Ok(None),
            len => self.text(len).map(Some),
        }
    }

    fn time(&mut self) -> io::Result<DateTime<Utc>> {
        let seconds = self.i64()?;
        let nanos = self.u32()?;
        DateTime::from_timestamp(seconds, nanos).ok_or_else(|| invalid("a time"))
    }

    fn optional_time(&mut self) -> io::Result<Option<DateTime<Utc>>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.time().map(Some),
        }
    }
}
