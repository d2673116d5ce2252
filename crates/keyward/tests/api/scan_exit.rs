//! `keyward scan`'s exit status when found keys and unreadable files meet (docs/leaks.md):
//! found keys win, so a corrupt archive beside a key still exits 1 with the error printed as a
//! note; the corrupt archive alone exits 2; a clean folder exits 0. A file not read fails the
//! gate (exit 2) unless `--allow-skipped`; a log over the size limit is streamed; `--git` walks
//! history.

use crate::helpers::{describe, keyward, unissued_key, PREFIX};
use std::path::Path;
use std::process::Output;

fn scan(dir: &Path) -> Output {
    scan_with(&[&dir.display().to_string()], dir)
}

#[test]
fn found_keys_exit_1_even_beside_a_corrupt_archive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), "nothing secret here\n").unwrap();
    let clean = scan(dir.path());
    assert_eq!(clean.status.code(), Some(0), "{}", describe(&clean));

    std::fs::write(
        dir.path().join("broken.zip"),
        b"PK\x03\x04 not an archive at all",
    )
    .unwrap();
    let alone = scan(dir.path());
    assert_eq!(alone.status.code(), Some(2), "{}", describe(&alone));
    let note = String::from_utf8_lossy(&alone.stderr).into_owned();
    assert!(
        note.contains("broken.zip"),
        "the corrupt archive is named: {note}"
    );

    let key = unissued_key(PREFIX);
    std::fs::write(dir.path().join("notes.txt"), format!("key: {key}\n")).unwrap();
    let both = scan(dir.path());
    assert_eq!(both.status.code(), Some(1), "{}", describe(&both));
    let stdout = String::from_utf8_lossy(&both.stdout);
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        stdout.contains("notes.txt") && stdout.contains(&key[..8]),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&key) && !stderr.contains(&key),
        "the whole key is never printed"
    );
    assert!(
        stderr.contains("broken.zip"),
        "the error is still reported: {stderr}"
    );
}

fn scan_with(args: &[&str], dir: &Path) -> Output {
    keyward()
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running keyward scan")
}

#[test]
fn a_file_not_read_fails_the_gate_unless_allowed_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), "nothing secret here\n").unwrap();
    std::fs::write(
        dir.path().join("logo.png"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    )
    .unwrap();
    let gated = scan(dir.path());
    assert_eq!(gated.status.code(), Some(2), "{}", describe(&gated));
    let stderr = String::from_utf8_lossy(&gated.stderr);
    assert!(
        stderr.contains("1 path not read, or not wholly:") && stderr.contains("logo.png"),
        "the summary counts and names it: {stderr}"
    );
    assert!(stderr.contains("--allow-skipped"), "{stderr}");

    let allowed = scan_with(&["--allow-skipped", "."], dir.path());
    assert_eq!(allowed.status.code(), Some(0), "{}", describe(&allowed));
    let json = scan_with(&["--json", "."], dir.path());
    assert_eq!(json.status.code(), Some(2), "{}", describe(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["not_read"], serde_json::json!(["./logo.png"]));
    assert_eq!(report["complete"], false);

    // A key in a name of a file not read is still shown by its start only.
    let key = unissued_key(PREFIX);
    std::fs::write(dir.path().join(format!("{key}.bin")), [0u8; 64]).unwrap();
    let named = scan_with(&["--allow-skipped", "."], dir.path());
    assert_eq!(named.status.code(), Some(1), "{}", describe(&named));
    let printed = describe(&named);
    assert!(
        !printed.contains(&key) && printed.contains(&key[..8]),
        "{printed}"
    );

    // A corrupt archive is an error, which --allow-skipped does not excuse.
    std::fs::remove_file(dir.path().join(format!("{key}.bin"))).unwrap();
    std::fs::write(dir.path().join("broken.zip"), b"PK\x03\x04 not an archive").unwrap();
    let broken = scan_with(&["--allow-skipped", "."], dir.path());
    assert_eq!(broken.status.code(), Some(2), "{}", describe(&broken));
}

#[test]
fn a_log_over_the_size_limit_is_streamed_with_keys_across_a_window_and_at_the_end() {
    // Just over the 100 MiB limit, so the default limits stream it.
    const LEN: usize = 101 * 1024 * 1024;
    const WINDOW: usize = 8 * 1024 * 1024;
    let line = b"2026-12-03T12:00:00Z GET /invoices?id=12345&page=2 200 0.003\n";
    let mut log: Vec<u8> = line.iter().copied().cycle().take(LEN).collect();
    let across = unissued_key("bos");
    let at_end = unissued_key("acme");
    log[WINDOW - 20..WINDOW - 20 + across.len()].copy_from_slice(across.as_bytes());
    log[LEN - at_end.len() - 1..LEN - 1].copy_from_slice(at_end.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), &log).unwrap();
    drop(log);
    let started = std::time::Instant::now();
    let out = scan_with(&["--json", "access.log"], dir.path());
    println!(
        "scanned a {} MiB log in {:?} (debug build)",
        LEN / (1024 * 1024),
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let starts: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["start"].as_str().unwrap())
        .collect();
    assert_eq!(starts, vec![&across[..8], &at_end[..9]]);
    assert_eq!(report["bytes_scanned"], LEN);
    assert_eq!(report["notes"], serde_json::json!([]));
}

fn git(dir: &Path, args: &[&str]) {
    keyward_scan::git_fixture::git(dir, args).expect("running git");
}

#[test]
fn git_history_finds_a_deleted_key_with_its_commit_and_a_folder_scan_points_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    let key = unissued_key(PREFIX);
    std::fs::write(repo.join("app.env"), format!("BOS_KEY={key}\n")).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "config"]);
    std::fs::write(repo.join("app.env"), "BOS_KEY=\n").unwrap();
    git(repo, &["commit", "-q", "-am", "remove the key"]);

    // The working tree is clean, and says where its history is.
    let tree = scan(repo);
    assert_eq!(tree.status.code(), Some(0), "{}", describe(&tree));
    let stderr = String::from_utf8_lossy(&tree.stderr);
    assert!(
        stderr.contains(".git folder") && stderr.contains("--git"),
        "{stderr}"
    );

    let history = scan_with(&["--git"], repo);
    assert_eq!(history.status.code(), Some(1), "{}", describe(&history));
    let stdout = String::from_utf8_lossy(&history.stdout);
    assert!(
        stdout.contains(":app.env") && stdout.contains("1:9"),
        "{stdout}"
    );
    assert!(!describe(&history).contains(&key));

    let sarif = scan_with(&["--git", "HEAD~1", "--sarif"], repo);
    assert_eq!(sarif.status.code(), Some(1), "{}", describe(&sarif));
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    let result = &log["runs"][0]["results"][0];
    assert_eq!(
        result["properties"]["commit"].as_str().map(str::len),
        Some(40)
    );
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "app.env"
    );
    assert!(result["partialFingerprints"]["keywardFinding/v1"].is_string());

    // Only the commit that removed it: nothing found.
    let range = scan_with(&["--git", "HEAD~1..HEAD", "--json"], repo);
    assert_eq!(range.status.code(), Some(0), "{}", describe(&range));

    let elsewhere = tempfile::tempdir().unwrap();
    let not_repo = scan_with(&["--git"], elsewhere.path());
    assert_eq!(not_repo.status.code(), Some(2), "{}", describe(&not_repo));
    assert!(
        String::from_utf8_lossy(&not_repo.stderr).contains("is not a git repository"),
        "{}",
        describe(&not_repo)
    );
}
