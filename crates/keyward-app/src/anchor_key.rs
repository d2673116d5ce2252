//! The anchor signing key's file: created once with mode 0600 beside the database (never
//! inside it, so a database writer cannot sign), with the public key beside it in
//! `<file>.pub`. The key is never logged and never put in an error message.

use keyward_core::anchor::AnchorSigningKey;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Why the anchor key could not be loaded or created. Messages name the file and the problem,
/// never the key.
#[derive(Debug, thiserror::Error)]
pub enum AnchorKeyError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the anchor key {} is not 64 hex digits (an Ed25519 seed)", .0.display())]
    Malformed(PathBuf),
    #[error(
        "the anchor key {} may be read by others (mode {mode:o}); run chmod 600 on it",
        path.display()
    )]
    NotPrivate { path: PathBuf, mode: u32 },
}

fn io<'p>(
    what: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> AnchorKeyError + 'p {
    move |source| AnchorKeyError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Where the public key of the key file at `path` is written.
pub fn public_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The key in `path`, created (mode 0600) if there is none. A key file that others may read
/// is refused, as ssh refuses a private key with loose permissions.
pub fn load_or_create(path: &Path) -> Result<AnchorSigningKey, AnchorKeyError> {
    match create(path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("creating the anchor key", path)(e)),
    }
    check_private(path)?;
    let text = std::fs::read_to_string(path).map_err(io("reading the anchor key", path))?;
    // The error says nothing of the file's contents.
    let key = AnchorSigningKey::from_hex(&text)
        .map_err(|_| AnchorKeyError::Malformed(path.to_path_buf()))?;
    write_public_key(path, &key)?;
    Ok(key)
}

fn create(path: &Path) -> std::io::Result<AnchorSigningKey> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let key = AnchorSigningKey::generate().map_err(|e| std::io::Error::other(e.to_string()))?;
    file.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
    file.sync_all()?;
    write_public_key(path, &key).map_err(std::io::Error::other)?;
    tracing::info!(path = %path.display(), "created the audit anchor key");
    Ok(key)
}

/// Writes `<path>.pub`, mode 0644 whatever the umask: anyone may read a public key, no one
/// else may change it.
fn write_public_key(path: &Path, key: &AnchorSigningKey) -> Result<(), AnchorKeyError> {
    let public = public_key_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&public)?;
        set_public_mode(&file)?;
        file.write_all(format!("{}\n", key.public_key().to_hex()).as_bytes())?;
        file.sync_all()
    };
    write().map_err(io("writing the anchor public key", &public))
}

/// Mode 0644, set explicitly (`fchmod`) so that it does not depend on the umask.
pub(crate) fn set_public_mode(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), AnchorKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io("reading the anchor key", path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(AnchorKeyError::NotPrivate {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), AnchorKeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_private_and_loaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.db.anchor-key");
        let key = load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create(&path).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = std::fs::read_to_string(public_key_path(&path)).unwrap();
        assert_eq!(public.trim(), key.public_key().to_hex());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_may_read_is_refused_without_showing_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchor-key");
        let key = load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        assert!(!error.contains(&key.to_hex()));
    }
}
