//! Real git repositories for tests: `git` run with a fixed identity and none of the user's
//! or the system's configuration, so a test's commits are the same on every machine.

use std::io;
use std::path::Path;
use std::process::Command;

/// Runs `git args…` in `dir`; its standard output, trimmed, or an error carrying git's
/// message when it fails.
pub fn git(dir: &Path, args: &[&str]) -> io::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Commits everything in the working tree of `dir` (an empty commit if nothing changed);
/// the new commit's id.
pub fn commit_all(dir: &Path, message: &str) -> io::Result<String> {
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "--allow-empty", "-m", message])?;
    git(dir, &["rev-parse", "HEAD"])
}
