//! The recipes of `docs/verify-from-other-languages.md` (`docs/recipes/`), run as programs
//! against a real server: a valid key, a revoked one, a missing permission, a wrong root
//! key and no server at all. Python must run (the CI runs it: a missing `python3` fails
//! under `KEYWARD_REQUIRE_SERVICES=1`); Node and Go run where they are installed. The page
//! shows the recipes' code, which must be theirs verbatim.

use crate::server::{self, TestServer};
use keyward_client::api::{AuditKind, AuditQuery, CreateKeyRequest, RevokeKeyRequest};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn recipe(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/recipes")
        .join(file)
}

/// Whether `program` runs (`version_arg` makes it print its version).
fn installed(program: &str, version_arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A line on stderr (libtest does not capture it), for a language that is optional here.
fn notice(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(format!("\n{line}\n").as_bytes());
}

/// What the recipe printed and its exit code, for `key` on stdin.
async fn run(
    program: &[String],
    url: &str,
    root_key: &str,
    key: &str,
    permission: &str,
) -> (i32, String) {
    let mut child = Command::new(&program[0])
        .args(&program[1..])
        .arg(permission)
        .env("KEYWARD_URL", url)
        .env("KEYWARD_ROOT_KEY", root_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{key}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.is_empty(), "{program:?} wrote to stderr: {stderr}");
    for secret in [key, root_key] {
        assert!(
            !stdout.contains(secret),
            "{program:?} printed a key: {stdout}"
        );
    }
    (output.status.code().unwrap_or(-1), stdout.trim().to_owned())
}

/// Every case, for the recipe `program` runs.
async fn check(server: &TestServer, program: &[String], resource: &str) {
    let keyward = server.client();
    let created = keyward
        .create_key(&CreateKeyRequest {
            name: format!("Recipe check {resource}"),
            permissions: vec!["invoices:read".into()],
            ..CreateKeyRequest::default()
        })
        .await
        .unwrap()
        .into_value();
    let (url, root) = (server.url.as_str(), server.root_key.as_str());
    let key = created.key.as_str();

    let valid = run(program, url, root, key, "invoices:read").await;
    assert_eq!(
        valid,
        (0, format!("VALID Recipe check {resource}")),
        "{program:?}"
    );
    let lacking = run(program, url, root, key, "invoices:delete").await;
    assert_eq!(
        lacking,
        (1, "REFUSED INSUFFICIENT_PERMISSIONS".into()),
        "{program:?}"
    );
    let wrong_root = run(program, url, "kwroot_notarootkey", key, "invoices:read").await;
    assert_eq!(
        wrong_root,
        (2, "UNAVAILABLE keyward answered 401".into()),
        "{program:?}"
    );
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", nobody.local_addr().unwrap());
    drop(nobody);
    let down = run(program, &nowhere, root, key, "invoices:read").await;
    assert_eq!(down.0, 2, "{program:?}: {}", down.1);
    assert!(down.1.starts_with("UNAVAILABLE"), "{program:?}: {}", down.1);

    let events = keyward
        .audit(&AuditQuery {
            key_id: Some(created.record.id.clone()),
            kind: Some(AuditKind::KeyVerified),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_value()
        .events;
    assert_eq!(events.len(), 2, "{program:?}");
    assert!(events
        .iter()
        .all(|e| e.action.as_deref() == Some("recipe") && e.resource.as_deref() == Some(resource)));

    keyward
        .revoke_key(&created.record.id, &RevokeKeyRequest::default())
        .await
        .unwrap();
    let revoked = run(program, url, root, key, "invoices:read").await;
    assert_eq!(revoked, (1, "REFUSED REVOKED".into()), "{program:?}");
}

#[tokio::test]
async fn the_python_recipe_accepts_a_valid_key_and_refuses_the_rest() {
    if !installed("python3", "--version") {
        keyward_store_tests::skip(
            "the_python_recipe_accepts_a_valid_key_and_refuses_the_rest",
            "python3 is not installed",
        )
        .unwrap();
        return;
    }
    let server = server::start().await;
    let program = [
        "python3".to_owned(),
        recipe("verify.py").display().to_string(),
    ];
    check(&server, &program, "verify.py").await;
}

#[tokio::test]
async fn the_node_recipe_accepts_a_valid_key_and_refuses_the_rest() {
    if !installed("node", "--version") {
        notice("SKIPPED the_node_recipe_accepts_a_valid_key_and_refuses_the_rest: node is not installed");
        return;
    }
    let server = server::start().await;
    let program = [
        "node".to_owned(),
        recipe("verify.mjs").display().to_string(),
    ];
    check(&server, &program, "verify.mjs").await;
}

#[tokio::test]
async fn the_go_recipe_accepts_a_valid_key_and_refuses_the_rest() {
    if !installed("go", "version") {
        notice(
            "SKIPPED the_go_recipe_accepts_a_valid_key_and_refuses_the_rest: go is not installed",
        );
        return;
    }
    // Built once, so each case runs the program rather than compiling it again.
    let scratch = tempfile::tempdir().unwrap();
    let binary = scratch.path().join("verify");
    let built = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(recipe("verify.go"))
        .output()
        .await
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let server = server::start().await;
    let program = [binary.display().to_string()];
    check(&server, &program, "verify.go").await;
}

#[test]
fn the_docs_show_the_recipes_code_verbatim() {
    let doc_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify-from-other-languages.md");
    let doc = std::fs::read_to_string(doc_path).unwrap();
    for (fence, file) in [
        ("```python\n", "verify.py"),
        ("```js\n", "verify.mjs"),
        ("```go\n", "verify.go"),
    ] {
        let start = doc
            .find(fence)
            .unwrap_or_else(|| panic!("no {fence:?} block"))
            + fence.len();
        let length = doc[start..].find("```").unwrap();
        let excerpt = &doc[start..start + length];
        let code = std::fs::read_to_string(recipe(file)).unwrap();
        assert!(excerpt.lines().count() > 10, "{file}: {excerpt}");
        assert!(
            code.contains(excerpt),
            "the {fence:?} block is not {file}'s code"
        );
    }
}
