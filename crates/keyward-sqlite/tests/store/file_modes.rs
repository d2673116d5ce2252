//! The database file, its WAL and shared memory, and the audit journal's files are created
//! private to the server's user (`0600`, the journal's directory `0700`); a database file
//! that already exists keeps the mode its owner gave it. (That the modes do not depend on the
//! umask is shown end to end by the server's `file_modes` test, which runs under `umask 000`.)

use anyhow::Result;
use chrono::Utc;
use keyward_core::{EventKind, NewEvent, Store};
use keyward_sqlite::{JournalOptions, SqliteStore};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use keyward_store_tests::fixtures::lone_workspace;

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[tokio::test]
async fn a_new_database_its_wal_and_its_journal_are_private() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("keyward.db");
    let journal = SqliteStore::default_journal_dir(&db);
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display())).await?;
    store.migrate().await?;
    let store = store
        .with_audit_journal(&journal, JournalOptions::default())
        .await?;
    let now = Utc::now();
    let workspace = lone_workspace(&store, "Modes", "bos", now).await?;
    store
        .append_events(vec![NewEvent::new(
            &workspace.id,
            now,
            EventKind::KeyVerified,
        )])
        .await?;

    let mut checked = vec![
        (db.clone(), 0o600),
        (with_suffix(&db, "-wal"), 0o600),
        (with_suffix(&db, "-shm"), 0o600),
        (journal.clone(), 0o700),
    ];
    for entry in std::fs::read_dir(&journal)? {
        checked.push((entry?.path(), 0o600));
    }
    assert!(
        checked
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "seg")),
        "{checked:?}"
    );
    for (path, want) in &checked {
        assert_eq!(mode(path)?, *want, "{}", path.display());
    }
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn an_existing_database_keeps_its_mode() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("keyward.db");
    std::fs::write(&db, b"")?;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640))?;
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display())).await?;
    store.migrate().await?;
    assert_eq!(mode(&db)?, 0o640);
    store.close().await;
    Ok(())
}
