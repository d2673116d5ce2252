//! What packages ship besides the binary, from the binary itself: `--version` with the git
//! revision, shell completions and the manual page.

use crate::helpers::{describe, keyward};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    let out = keyward().args(args).output().expect("running keyward");
    assert!(out.status.success(), "{}", describe(&out));
    out
}

#[test]
fn version_shows_the_package_version_and_the_git_revision() {
    let out = run(&["--version"]);
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        version.starts_with(&format!("keyward {} (git ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    // Built from a checkout, the revision is the checkout's HEAD.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(
            version.contains(&head),
            "{version} is not built from {head}"
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish_know_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let script = String::from_utf8(run(&["completions", shell]).stdout).unwrap();
        for command in ["serve", "backup", "restore", "config", "tls-cert"] {
            assert!(
                script.contains(command),
                "{shell} completions lack {command}"
            );
        }
    }
    let unknown = keyward().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", describe(&unknown));
}

#[test]
fn the_manual_page_is_roff_naming_the_commands() {
    let page = String::from_utf8(run(&["man"]).stdout).unwrap();
    assert!(page.contains(".TH keyward 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    assert!(page.contains("serve") && page.contains("backup"), "{page}");
}
