//! The first `keyward serve` on an empty database: a workspace whose root key goes to a new
//! file (`secret_file`). Creating workspaces and root keys is the core's
//! (`keyward_app::bootstrap`).

use crate::secret_file::Destination;
use anyhow::Context;
pub use keyward_app::bootstrap::*;
use keyward_core::{Clock, Store, Workspace};

/// A workspace whose root key is written to the new file `path` (never to stderr, where the
/// logger writes and journald or docker keep everything). The file is created before the
/// workspace, so a path that cannot take the key stops the server before anything is created.
/// Returns the workspace and where the key went.
pub async fn first_workspace(
    store: &dyn Store,
    clock: &dyn Clock,
    path: &std::path::Path,
) -> anyhow::Result<(Workspace, String)> {
    let destination = Destination::new_file(path)?;
    let created = match create_workspace(store, clock, "Default workspace", "kw").await {
        Ok(created) => created,
        Err(e) => {
            destination.abandon();
            return Err(e.into());
        }
    };
    let said = destination.deliver(&created.root_key).context(
        "the first root key could not be written; create another with keyward root-key create",
    )?;
    Ok((created.workspace, said))
}
