//! The database file holds every key's digest and the audit trail, so it is created private
//! to the server's user (`0600`) before SQLite opens it. SQLite creates the WAL and
//! shared-memory files with the database file's permissions, so they follow; the mode is set
//! explicitly after creation (`fchmod`), so it does not depend on the process's umask.

use std::io;
use std::path::Path;

/// Creates `path` empty and private when it does not exist (SQLite takes an empty file for
/// an empty database). An existing file is left as it is: its owner chose its mode.
pub(crate) fn create_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        const MODE: u32 = 0o600;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(path)
        {
            Ok(file) => file.set_permissions(std::fs::Permissions::from_mode(MODE)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
