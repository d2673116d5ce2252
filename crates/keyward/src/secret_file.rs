//! Where a new root key is handed to a person: a new file only its owner can read, or an
//! interactive terminal — never a stream a log collector may keep (journald and docker keep
//! whatever a service writes to stdout and stderr).

use anyhow::Context;
use keyward_core::ApiKey;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Chosen before the root key exists, so a destination that cannot take it stops the command
/// before anything is created.
pub enum Destination {
    /// A file created for this key alone (mode 0600 on Unix), still empty.
    File { path: PathBuf, file: std::fs::File },
    /// Standard output, which is an interactive terminal.
    Terminal,
}

impl Destination {
    /// Creates `path`, which must not exist yet: an existing file (or a symbolic link planted
    /// there) is never followed, truncated or replaced.
    pub fn new_file(path: &Path) -> anyhow::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).with_context(|| {
            format!(
                "cannot create {} for the root key (it must not exist yet)",
                path.display()
            )
        })?;
        Ok(Self::File {
            path: path.to_owned(),
            file,
        })
    }

    /// Standard output if it is an interactive terminal; otherwise an error that asks for a
    /// file instead.
    pub fn terminal() -> anyhow::Result<Self> {
        anyhow::ensure!(
            std::io::stdout().is_terminal(),
            "standard output is not a terminal, and a root key must not reach a log or a pipe: \
             pass --output FILE (created readable by you only)"
        );
        Ok(Self::Terminal)
    }

    /// Writes the key (a file: the key and a newline, synced to disk); returns a sentence that
    /// says where it went, which holds no secret.
    pub fn deliver(self, key: &ApiKey) -> anyhow::Result<String> {
        match self {
            Self::File { path, mut file } => {
                file.write_all(format!("{}\n", key.expose()).as_bytes())
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("writing the root key to {}", path.display()))?;
                Ok(format!(
                    "written to {} (readable by this user only): move it to a secret manager, then delete the file",
                    path.display()
                ))
            }
            Self::Terminal => {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "Root key (shown once; store it in a secret manager):\n\n    {}\n",
                    key.expose()
                )
                .and_then(|()| out.flush())
                .context("printing the root key")?;
                Ok("shown above".to_owned())
            }
        }
    }

    /// Removes the file again when the key could not be created, so a retry finds the path
    /// free.
    pub fn abandon(self) {
        if let Self::File { path, file } = self {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::KeyPrefix;

    #[test]
    fn a_root_key_file_is_new_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root-key");
        let key = ApiKey::generate(&KeyPrefix::parse("kw_root").unwrap()).unwrap();
        let said = Destination::new_file(&path).unwrap().deliver(&key).unwrap();
        assert!(!said.contains(key.expose()), "{said}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", key.expose())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // An existing file is never overwritten.
        assert!(Destination::new_file(&path).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", key.expose())
        );
    }
}
