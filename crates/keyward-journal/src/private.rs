//! The journal's files hold the audit trail not yet in the database, so they are private to
//! the server's user: files `0600`, a directory the journal creates `0700`. Set explicitly
//! after creation (`fchmod`), so the result does not depend on the process's umask.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
const FILE_MODE: u32 = 0o600;
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// Options for creating a journal file: no group or other bits even before [`restrict`].
pub(crate) fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Makes `file` readable and writable by its owner only, whatever the umask.
pub(crate) fn restrict(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// Creates `dir` and any missing parents, `dir` itself private to its owner. A directory
/// that exists is left as it is (its owner chose its mode).
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> io::Result<u32> {
        Ok(fs::metadata(path)?.permissions().mode() & 0o777)
    }

    #[test]
    fn files_and_directories_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("journal");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir).unwrap(), 0o700);
        let path = dir.join("f");
        let file = options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        restrict(&file).unwrap();
        assert_eq!(mode(&path).unwrap(), 0o600);
    }
}
