//! `keyward backup` and `keyward restore`: a consistent copy of a SQLite database together
//! with its audit journal, taken while the server runs, and putting one back.
//!
//! A verification is acknowledged once its event is durable in the audit journal; the
//! database takes events in later. A backup therefore needs both, and the two are read in
//! an order that leaves no gap between them:
//! 1. the database's journal position `P0`;
//! 2. the journal's records after `P0`, read without its lock (`read_snapshot`);
//! 3. the database copied as of one moment (`VACUUM INTO`), at position `P1 >= P0`;
//! 4. the records after `P1` that continue it taken into the copy, and the copy detached
//!    from the journal.
//!
//! Every event acknowledged before step 2 began is in the copy: either the database had
//! taken it in by step 3, or it was still in its journal segment when step 2 read it (a
//! segment is reused only after the database has taken in every record in it). Every key
//! and management change acknowledged before step 3 is in the copy, since the database
//! commits them before answering. The backup is one self-contained database file, with
//! no journal of its own: a server started on it creates a new one.

use crate::config::Settings;
use anyhow::Context;
use keyward_core::Store;
use keyward_postgres::PostgresStore;
use keyward_sqlite::SqliteStore;
use keyward_storage::IngestTarget;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The database file's name inside a backup.
pub const DATABASE_FILE: &str = "keyward.db";
/// The manifest's name inside a backup.
pub const MANIFEST_FILE: &str = "keyward-backup.json";
const FORMAT: u32 = 1;

/// What a backup holds, written beside the database file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout of the backup directory (1).
    pub format: u32,
    /// When the backup began (RFC 3339, UTC).
    pub started_at: String,
    /// The keyward version that took it.
    pub keyward_version: String,
    /// The database file in the directory.
    pub database: String,
    /// Audit events that were only in the journal and were taken into the copy.
    pub journal_events_taken_in: usize,
    /// The journal position the copy holds everything up to.
    pub journal_position: u64,
}

/// Where `keyward backup` reads from.
#[derive(Debug, Clone)]
pub struct Source {
    pub database_url: String,
    /// The audit journal's directory (`None`: beside the database file).
    pub audit_journal: Option<PathBuf>,
}

impl Source {
    /// The database URL and audit journal of `settings` (flags and environment over the
    /// `--config` file), as `keyward serve` would use them.
    pub fn from_settings(settings: Settings) -> Self {
        let settings = settings.with_defaults();
        Self {
            database_url: settings
                .database_url
                .unwrap_or_else(|| crate::config::DEFAULT_DATABASE_URL.to_owned()),
            audit_journal: settings.audit_journal,
        }
    }
}

/// `keyward backup --to DIR`: see the module comment. `to` must be missing or empty.
pub async fn backup(source: &Source, to: &Path) -> anyhow::Result<Manifest> {
    if PostgresStore::is_postgres_url(&source.database_url) {
        anyhow::bail!(
            "keyward backup copies a SQLite database; on PostgreSQL use its own tools: \
             pg_dump for a logical copy, pg_basebackup with WAL archiving for point-in-time \
             recovery (see docs/operations.md)"
        );
    }
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // Connecting would create a missing file.
    match sqlite_path(&source.database_url) {
        Some(path) if path.is_file() => {}
        Some(path) => anyhow::bail!("there is no database at {}", path.display()),
        None => anyhow::bail!("an in-memory database has nothing to back up"),
    }
    let live = SqliteStore::connect(&source.database_url)
        .await
        .context("opening the database")?;
    let Some(file) = live.database_file().map(Path::to_path_buf) else {
        anyhow::bail!("an in-memory database has nothing to back up");
    };
    let copied = copy_live(&live, &file, source, to).await;
    live.close().await;
    let (taken_in, position) = copied?;
    let manifest = Manifest {
        format: FORMAT,
        started_at,
        keyward_version: env!("CARGO_PKG_VERSION").to_owned(),
        database: DATABASE_FILE.to_owned(),
        journal_events_taken_in: taken_in,
        journal_position: position,
    };
    write_durably(
        &to.join(MANIFEST_FILE),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    sync_dir(to)?;
    Ok(manifest)
}

/// Steps 1 to 4 of the module comment; returns the events taken in from the journal and
/// the copy's final position.
async fn copy_live(
    live: &SqliteStore,
    file: &Path,
    source: &Source,
    to: &Path,
) -> anyhow::Result<(usize, u64)> {
    if std::fs::metadata(file).map(|m| m.len()).unwrap_or(0) == 0 {
        anyhow::bail!("{} is not a keyward database", file.display());
    }
    let before = live
        .journal_position()
        .await
        .context("reading the database's audit journal position")?;
    let journal = source
        .audit_journal
        .clone()
        .unwrap_or_else(|| SqliteStore::default_journal_dir(file));
    let snapshot = if journal.join("ID").exists() {
        let dir = journal.clone();
        let read =
            tokio::task::spawn_blocking(move || keyward_journal::read_snapshot(&dir, before.lsn))
                .await?;
        Some(read.with_context(|| format!("reading the audit journal {}", journal.display()))?)
    } else {
        None
    };
    empty_private_dir(to)?;
    let copy_path = to.join(DATABASE_FILE);
    live.snapshot_into(&copy_path)
        .await
        .context("copying the database")?;
    private(&copy_path)?;

    let copy = SqliteStore::connect(&sqlite_url(&copy_path))
        .await
        .context("opening the copy")?;
    let result = complete_copy(&copy, snapshot).await;
    // The backup is the database file alone: what the copy took in must not stay in its WAL
    // (closing checkpoints too, but only warns when it cannot).
    let checkpointed = copy.checkpoint_wal().await;
    copy.close().await;
    let result = result?;
    checkpointed.context("writing the copy's log into its file")?;
    Ok(result)
}

/// Takes the journal's records after the copy's position into the copy and detaches it.
async fn complete_copy(
    copy: &SqliteStore,
    snapshot: Option<keyward_journal::Snapshot>,
) -> anyhow::Result<(usize, u64)> {
    let position = copy.journal_position().await?;
    let mut taken_in = 0;
    if let Some(snapshot) = snapshot {
        if let (Some(attached), Some(read)) = (&position.journal_id, &snapshot.id) {
            if attached != read {
                anyhow::bail!(
                    "the audit journal read (id {read}) is not the one the database uses \
                     (id {attached}): pass the server's --audit-journal"
                );
            }
        }
        let records = snapshot.after(position.lsn);
        keyward_storage::take_in_records(copy, &records)
            .await
            .context("taking the journal's events into the copy")?;
        taken_in = records.len();
    }
    if let Some(attached) = &position.journal_id {
        copy.release_journal(attached).await?;
    }
    let after = copy.journal_position().await?;
    Ok((taken_in, after.lsn))
}

/// `keyward restore --from DIR --to DATADIR`: the backup's database into the new or empty
/// directory `to`, checked by opening it. Returns the restored database file.
pub async fn restore(from: &Path, to: &Path) -> anyhow::Result<PathBuf> {
    let manifest_path = from.join(MANIFEST_FILE);
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("{} is not a keyward backup", from.display()))?,
    )
    .with_context(|| {
        format!(
            "{} is not a keyward backup manifest",
            manifest_path.display()
        )
    })?;
    if manifest.format != FORMAT {
        anyhow::bail!(
            "the backup's format {} is not one this keyward restores",
            manifest.format
        );
    }
    let source = from.join(&manifest.database);
    empty_private_dir(to)?;
    let target = to.join(DATABASE_FILE);
    let temporary = to.join(format!("{DATABASE_FILE}.restoring"));
    std::fs::copy(&source, &temporary).with_context(|| format!("copying {}", source.display()))?;
    private(&temporary)?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, &target)?;
    sync_dir(to)?;
    // Opening checks the file is a database this keyward can migrate and serve.
    let restored = SqliteStore::connect(&sqlite_url(&target))
        .await
        .context("opening the restored database")?;
    let checked = async {
        restored.migrate().await?;
        restored.journal_position().await
    }
    .await;
    restored.close().await;
    checked.context("checking the restored database")?;
    Ok(target)
}

/// The file a SQLite URL names (`None` in memory).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:") && !url.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Creates `dir` readable by this user only, or accepts it empty; refuses one with files.
fn empty_private_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                anyhow::bail!("{} is not empty: refusing to write into it", dir.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// Makes `file` readable by this user only: it holds key digests and the audit trail.
fn private(file: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", file.display()))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
