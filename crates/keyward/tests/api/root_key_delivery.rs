//! How a root key reaches a person without reaching a log: the first `keyward serve` writes
//! it to a new 0600 file (never to stdout or stderr, which journald and docker keep), and
//! `keyward root-key create` (operator recovery) writes it to a new 0600 file or a terminal.

use crate::helpers::{
    contains_bytes, describe, keyward, remember_secret, secret_part, spawn_app, Api, TestApp,
};
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_first_root_key_goes_to_a_private_file_and_never_to_stdout_or_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let mut server = Server(
        keyward()
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
            .arg(format!("sqlite://{}", db.display()))
            .env("KEYWARD_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = server.0.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        all
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(server.0.stderr.take().unwrap());
    let stderr = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in stderr.split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some(at) = text.find("listening on http://") {
                let addr: String = text[at + "listening on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(addr);
            }
            all.extend_from_slice(&line);
            all.push(b'\n');
        }
        all
    });
    let address = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server reports its address");

    let file = dir.path().join("keyward.db.root-key");
    let written = std::fs::read_to_string(&file).expect("the root key file exists");
    let key = written.trim_end().to_owned();
    remember_secret(&key);
    assert_eq!(written, format!("{key}\n"));
    assert!(key.starts_with("kw_root_"), "{written}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    // The key in the file is the workspace's working root key.
    let roots = Api::at(&address, Some(&key)).get("/v1/root-keys").await;
    assert_eq!(roots.status.as_u16(), 200);

    drop(server);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    for (name, stream) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !contains_bytes(stream, secret_part(&key).as_bytes()),
            "the root key is on {name}: {}",
            String::from_utf8_lossy(stream)
        );
    }
    // The log says where the key is.
    let log = String::from_utf8_lossy(&stderr);
    assert!(log.contains(&file.display().to_string()), "{log}");

    // A first start never overwrites an existing file: it stops before creating anything.
    let other = dir.path().join("other.db");
    std::fs::write(other.with_extension("db.root-key"), "kept\n").unwrap();
    let out = keyward()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!("sqlite://{}", other.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must not exist yet"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read_to_string(other.with_extension("db.root-key")).unwrap(),
        "kept\n"
    );
}

fn recover(app: &TestApp, args: &[&str]) -> Output {
    keyward()
        .args(["root-key", "create", "--database-url"])
        .arg(format!("sqlite://{}", app.db_path.display()))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn operator_recovery_mints_a_root_key_for_a_locked_out_workspace_while_the_server_runs() {
    let app = spawn_app();
    let dir = tempfile::tempdir().unwrap();
    let api = app.api();
    // The owners lock themselves out: the only root key revokes itself.
    let roots = api.get("/v1/root-keys").await.expect(200).clone();
    let id = roots[0]["id"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/root-keys/{id}/revoke"), &json!({}))
        .await
        .expect(200);
    api.get("/v1/root-keys").await.expect(401);

    // Refused before anything is created: stdout is a pipe and no --output was given; an
    // unknown workspace; an unknown right; an --output file that exists.
    let taken = dir.path().join("taken");
    std::fs::write(&taken, "kept\n").unwrap();
    let workspace = app.workspaces[0].id.as_str();
    for (args, says) in [
        (vec!["--workspace", workspace, "--right", "*"], "--output"),
        (vec!["--workspace", "nope", "--right", "*"], "no workspace"),
        (
            vec!["--workspace", workspace, "--right", "keys:all"],
            "unknown right",
        ),
        (
            vec!["--workspace", workspace, "--right", "*", "--output"],
            "must not exist yet",
        ),
    ] {
        let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        if args.last().is_some_and(|a| a == "--output") {
            args.push(taken.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = recover(&app, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            describe(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "kept\n");

    // By the workspace's key prefix, with the server running on the same database.
    let file = dir.path().join("recovered-root-key");
    let out = recover(
        &app,
        &[
            "--workspace",
            crate::helpers::PREFIX,
            "--right",
            "*",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let key = std::fs::read_to_string(&file)
        .unwrap()
        .trim_end()
        .to_owned();
    remember_secret(&key);
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    for stream in [&out.stdout, &out.stderr] {
        assert!(!contains_bytes(stream, secret_part(&key).as_bytes()));
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&file.display().to_string()),
        "{}",
        describe(&out)
    );

    // The running server accepts it (it loads root keys it does not know on first use).
    let recovered = app.as_root(&key);
    let roots = recovered.get("/v1/root-keys").await.expect(200).clone();
    assert_eq!(roots.as_array().unwrap().len(), 2, "{roots}");
    recovered.list_keys("").await.expect(200);
    // Recorded as operator recovery, in a chain that still verifies.
    let created = recovered
        .get("/v1/audit?kind=root_key.created")
        .await
        .expect(200)
        .clone();
    let newest = &created["events"][0];
    let detail = newest["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("operator recovery"), "{created}");
    assert!(newest["actor_id"].is_null(), "{created}");
    assert_eq!(created["events"].as_array().unwrap().len(), 2, "{created}");
    let chain = recovered.get("/v1/audit/verify").await.expect(200).clone();
    assert_eq!(chain["valid"], true, "{chain}");
}

#[test]
fn a_key_prefix_shared_by_several_workspaces_is_refused_for_recovery() {
    let app = crate::helpers::spawn_app_with(2);
    let out = recover(
        &app,
        &["--workspace", crate::helpers::PREFIX, "--right", "*"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("2 workspaces"), "{said}");
    assert!(said.contains(&app.workspaces[1].id), "{said}");
}

#[test]
fn keyward_init_shows_its_root_key_only_on_a_terminal_or_in_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let url = format!("sqlite://{}", db.display());
    let init = |extra: &[&str]| -> Output {
        keyward()
            .args(["init", "--database-url", &url, "--prefix", "bos"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    // Standard output is a pipe here, as under a container's or a service's log collector:
    // refused before anything is created.
    let refused = init(&[]);
    assert!(!refused.status.success(), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--output FILE"),
        "{}",
        describe(&refused)
    );
    assert!(!contains_bytes(&refused.stdout, b"kw_root_"));
    assert!(!contains_bytes(&refused.stderr, b"kw_root_"));

    // --output: a new private file, and nothing of the key on either stream.
    let file = dir.path().join("root-key");
    let written = init(&["--output", file.to_str().unwrap()]);
    assert!(written.status.success(), "{}", describe(&written));
    let key = std::fs::read_to_string(&file)
        .unwrap()
        .trim_end()
        .to_owned();
    remember_secret(&key);
    assert!(key.starts_with("kw_root_"), "{key}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    for stream in [&written.stdout, &written.stderr] {
        assert!(!contains_bytes(stream, key.as_bytes()));
        assert!(!contains_bytes(stream, secret_part(&key).as_bytes()));
        assert!(!contains_bytes(stream, b"kw_root_"));
    }
    assert!(String::from_utf8_lossy(&written.stderr).contains("root-key"));

    // The refused run created no workspace: the database holds only the one from --output.
    let again = init(&["--json"]);
    assert!(again.status.success(), "{}", describe(&again));
    let parsed: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    remember_secret(parsed["root_key"].as_str().unwrap());
    let workspaces = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use keyward_core::Store;
        let store = keyward_sqlite::SqliteStore::connect(&url).await.unwrap();
        store.workspaces().await.unwrap().len()
    });
    assert_eq!(workspaces, 2);
}
