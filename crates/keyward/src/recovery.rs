//! `keyward root-key create`: operator recovery. Whoever can write the database can already
//! do anything to it, so a person with that access may mint a root key for a workspace whose
//! owners lost every root key (revoked, or never stored). The audit trail records it as
//! operator recovery, not as any root key's act.
//!
//! It may run while a server uses the same SQLite file: the insert and its audit event are one
//! `BEGIN IMMEDIATE` transaction that appends after the chain head as stored (SQLite
//! serialises it with the server's writes), and the server loads a root key it does not know
//! on first use (a reload at most once a second, `Keyward::authenticate`). The one thing it
//! cannot do from outside is settle the server's audit journal first, so verifications the
//! server answered a moment earlier may be chained after the recovery event; the chain stays
//! intact.

use crate::secret_file::Destination;
use anyhow::Context;
use keyward_app::bootstrap::{insert_recovered_root_key, new_root_key};
use keyward_app::KNOWN_RIGHTS;
use keyward_core::{Clock, KeyName, Permission, Store, Workspace};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum RootKeyCommand {
    /// Create a root key straight in the database (operator recovery, recorded as such)
    Create(CreateArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Database URL
    #[arg(
        long,
        env = "KEYWARD_DATABASE_URL",
        default_value = "sqlite://keyward.db"
    )]
    pub database_url: String,
    /// The workspace: its id (ws_…) or its key prefix (e.g. bos)
    #[arg(long)]
    pub workspace: String,
    /// A right of the new root key; repeat for several (*, keys:read, keys:write, …)
    #[arg(long = "right", required = true)]
    pub rights: Vec<String>,
    /// Name of the new root key
    #[arg(long, default_value = "Operator recovery root key")]
    pub name: String,
    /// Write the root key to this new file (created readable by you only); without it the key
    /// is shown only if standard output is a terminal
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Creates the root key and hands it over; returns a line for people (no secret in it).
pub async fn create(
    store: &dyn Store,
    clock: &dyn Clock,
    args: &CreateArgs,
) -> anyhow::Result<String> {
    let name = KeyName::parse(&args.name).context("invalid --name")?;
    let rights = parse_rights(&args.rights)?;
    let workspace = select_workspace(
        store.workspaces().await.context("reading workspaces")?,
        &args.workspace,
    )?;
    // Where the key goes is settled before it exists.
    let destination = match &args.output {
        Some(path) => Destination::new_file(path)?,
        None => Destination::terminal()?,
    };
    let now = clock.now();
    let (root, secret) = new_root_key(&workspace.id, name.as_str(), rights, now)?;
    if let Err(e) = insert_recovered_root_key(store, &root, now).await {
        destination.abandon();
        return Err(e).context("creating the root key");
    }
    let said = destination.deliver(&secret)?;
    Ok(format!(
        "Created root key {} ({:?}) in workspace {} ({:?}) by operator recovery; the key is {said}",
        root.id, root.name, workspace.id, workspace.name
    ))
}

fn parse_rights(given: &[String]) -> anyhow::Result<Vec<Permission>> {
    let mut rights = Vec::new();
    for right in given {
        anyhow::ensure!(
            KNOWN_RIGHTS.contains(&right.as_str()),
            "unknown right {right:?}; rights are {}",
            KNOWN_RIGHTS.join(", ")
        );
        let right = Permission::parse(right)?;
        if !rights.contains(&right) {
            rights.push(right);
        }
    }
    anyhow::ensure!(!rights.is_empty(), "a root key needs at least one --right");
    Ok(rights)
}

/// The one workspace whose id or key prefix is `wanted`.
fn select_workspace(workspaces: Vec<Workspace>, wanted: &str) -> anyhow::Result<Workspace> {
    let listing = |list: &[Workspace]| {
        list.iter()
            .map(|w| format!("{} (prefix {}, {:?})", w.id, w.prefix, w.name))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if let Some(by_id) = workspaces.iter().find(|w| w.id == wanted) {
        return Ok(by_id.clone());
    }
    let by_prefix: Vec<Workspace> = workspaces
        .iter()
        .filter(|w| w.prefix == wanted)
        .cloned()
        .collect();
    match by_prefix.len() {
        1 => Ok(by_prefix.into_iter().next().context("one workspace")?),
        0 => anyhow::bail!(
            "no workspace has the id or key prefix {wanted:?}; the workspaces are: {}",
            listing(&workspaces)
        ),
        n => anyhow::bail!(
            "{n} workspaces have the key prefix {wanted:?}; give the id of one: {}",
            listing(&by_prefix)
        ),
    }
}
