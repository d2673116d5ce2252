//! One configuration file for `keyward serve`, layered under `KEYWARD_*` variables and flags:
//! the real binary's `keyward config check` shows which layer won, refuses unknown settings
//! with their line, masks passwords; and `keyward serve --config` serves what the file says.

use crate::helpers::{describe, keyward, listening_address};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

/// `keyward config check FILE <args>` with `env` set on the child only.
fn check(file: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    keyward()
        .arg("config")
        .arg("check")
        .arg(file)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running keyward config check")
}

/// The value of `name = …` in the printed settings.
#[track_caller]
fn setting(out: &Output, name: &str) -> String {
    assert!(
        out.status.success(),
        "config check failed: {}",
        describe(out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} = ")))
        .unwrap_or_else(|| panic!("{name} is not shown: {}", describe(out)))
        .trim_matches('"')
        .to_owned()
}

fn write_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("keyward.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "listen = \"127.0.0.1:7001\"\nidle_timeout_secs = 21\nbody_timeout_secs = 22\n",
    );
    let env = [
        ("KEYWARD_LISTEN", "127.0.0.1:7002"),
        ("KEYWARD_IDLE_TIMEOUT_SECS", "31"),
    ];
    let out = check(&file, &env, &["--listen", "127.0.0.1:7003"]);
    // The flag over the variable over the file.
    assert_eq!(setting(&out, "listen"), "127.0.0.1:7003");
    // The variable over the file.
    assert_eq!(setting(&out, "idle_timeout_secs"), "31");
    // The file over the default.
    assert_eq!(setting(&out, "body_timeout_secs"), "22");
    // The default where nobody said anything.
    assert_eq!(setting(&out, "header_timeout_secs"), "10");

    let file_only = check(&file, &[], &[]);
    assert_eq!(setting(&file_only, "listen"), "127.0.0.1:7001");
    assert_eq!(setting(&file_only, "idle_timeout_secs"), "21");
}

#[test]
fn an_unknown_setting_is_refused_with_its_line_and_serve_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "listen = \"127.0.0.1:0\"\n# a comment\nmax_conections = 10\n",
    );
    let out = check(&file, &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("max_conections"), "{stderr}");

    let db = dir.path().join("keyward.db");
    let served = keyward()
        .args(["serve", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(served.status.code(), Some(2), "{}", describe(&served));
    assert!(
        !db.exists(),
        "a refused configuration still opened the database"
    );
}

#[test]
fn passwords_in_urls_are_masked_and_key_files_are_shown_only_as_paths() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tls-key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBjb250ZW50\n",
    )
    .unwrap();
    let file = write_file(
        dir.path(),
        &format!(
            "database_url = \"postgres://keyward:db-hunter2@db.internal/keyward\"\n\
             tls_cert = \"cert.pem\"\ntls_key = {:?}\n",
            key.display().to_string()
        ),
    );
    let env = [("KEYWARD_REDIS_URL", "redis://:redis-hunter2@cache:6379")];
    let out = check(&file, &env, &[]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!shown.contains("hunter2"), "a password is shown: {shown}");
    assert_eq!(
        setting(&out, "database_url"),
        "postgres://keyward:****@db.internal/keyward"
    );
    assert_eq!(setting(&out, "redis_url"), "redis://:****@cache:6379");
    assert_eq!(setting(&out, "tls_key"), key.display().to_string());
    assert!(
        !shown.contains("c2VjcmV0"),
        "a key file's contents are shown"
    );
}

#[test]
fn a_certificate_without_its_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "tls_cert = \"cert.pem\"\n");
    let out = check(&file, &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_key"));
}

#[test]
fn the_documented_example_file_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/keyward.toml");
    let out = check(&example, &[], &[]);
    assert_eq!(setting(&out, "listen"), "127.0.0.1:8080");
}

#[tokio::test]
async fn serve_runs_with_the_settings_of_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let file = write_file(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\nidle_timeout_secs = 3\n",
            db.display()
        ),
    );
    let mut child = keyward()
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .env("KEYWARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(address) = listening_address(&line) {
                let _ = tx.send(address);
            }
        }
    });
    let address = rx.recv_timeout(Duration::from_secs(120));
    let healthz = match &address {
        Ok(address) => reqwest::get(format!("http://{address}/healthz"))
            .await
            .map(|r| r.status().as_u16()),
        Err(_) => Ok(0),
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(address.is_ok(), "keyward serve --config did not listen");
    assert_eq!(healthz.unwrap(), 200);
    assert!(db.exists(), "the database of the file was not used");
}
