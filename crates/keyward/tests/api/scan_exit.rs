//! `keyward scan`'s exit status when found keys and unreadable files meet (docs/leaks.md):
//! found keys win, so a corrupt archive beside a key still exits 1 with the error printed as a
//! note; the corrupt archive alone exits 2; a clean folder exits 0.

use crate::helpers::{describe, keyward, unissued_key, PREFIX};
use std::path::Path;
use std::process::Output;

fn scan(dir: &Path) -> Output {
    keyward()
        .arg("scan")
        .arg(dir)
        .output()
        .expect("running keyward scan")
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
