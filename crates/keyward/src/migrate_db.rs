//! `keyward migrate-db --from URL --to URL`: copies a whole database into an empty one, of
//! either engine (SQLite to PostgreSQL, or back): workspaces, settings and policies, root
//! keys, keys with their credits and usage, and the audit trail with its chain intact (same
//! `seq`s and hashes, so `GET /v1/audit/verify` passes on the copy), reporting progress on
//! standard error. The copying is `keyward_storage::copy_database`.

use crate::database::{self, Purpose};
use anyhow::Context;
use keyward_storage::{copy_database, Copied, Progress};

/// Copies the database at `from` into the empty database at `to`.
///
/// The source is opened as a server opens it: a SQLite file first takes in what its audit
/// journal holds (events a crash left there), and a server still running on it holds the
/// journal's lock, so the copy refuses to start rather than copy a database that is
/// changing. (Stop every server of a PostgreSQL source first: nothing there can tell.)
pub async fn migrate_db(from: &str, to: &str) -> anyhow::Result<Copied> {
    let source = database::open(
        from,
        Purpose::Serve {
            audit_journal: None,
        },
    )
    .await
    .context("opening the source database (--from)")?;
    let target = match database::open(to, Purpose::Command).await {
        Ok(target) => target,
        Err(e) => {
            source.close().await;
            return Err(e.context("opening the target database (--to)"));
        }
    };
    eprintln!(
        "copying a {} database into a {} database",
        source.engine_name(),
        target.engine_name()
    );
    let copied = copy_database(source.store.as_ref(), target.store.as_ref(), report).await;
    source.close().await;
    target.close().await;
    let copied = copied?;
    eprintln!(
        "done: {} workspaces, {} root keys, {} keys, {} audit events",
        copied.workspaces, copied.root_keys, copied.keys, copied.events
    );
    Ok(copied)
}

/// One line of progress on standard error.
fn report(progress: Progress<'_>) {
    match progress {
        Progress::Records {
            workspaces,
            root_keys,
            keys,
        } => eprintln!("copied {workspaces} workspaces, {root_keys} root keys, {keys} keys"),
        Progress::Events {
            workspace_id,
            copied,
            head_seq,
        } => eprintln!(
            "audit trail of {workspace_id}: {copied} events copied (chain head at seq {head_seq})"
        ),
    }
}
