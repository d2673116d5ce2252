//! Puts the git revision the crate is built from into `KEYWARD_GIT_REVISION`, which the
//! metrics' build info and `keyward --version` show (`metrics::REVISION`,
//! `metrics::VERSION_LINE`). From the `KEYWARD_GIT_REVISION` environment variable when set
//! (a Docker build has no `.git`: pass it as a build argument), else from `git rev-parse`;
//! `unknown` without either, so a build from a source tarball still works.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=KEYWARD_GIT_REVISION");
    let revision = std::env::var("KEYWARD_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KEYWARD_GIT_REVISION={revision}");
}

/// The short hash of `HEAD`, with `-dirty` when tracked files changed; rebuilt when `HEAD`
/// or the branch it points to moves.
fn git_revision() -> Option<String> {
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    for watched in ["HEAD", "index"] {
        if let Some(path) = git(&["rev-parse", "--git-path", watched]) {
            println!("cargo:rerun-if-changed={}", absolute(path).display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={}", absolute(path).display());
        }
    }
    let dirty = Command::new("git")
        .args(["diff-index", "--quiet", "HEAD", "--"])
        .status()
        .ok()
        .is_some_and(|status| status.code() == Some(1));
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// `git rev-parse --git-path` answers relative to the working directory (the crate's).
fn absolute(path: String) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir().map_or(path.clone(), |dir| dir.join(path))
    }
}
