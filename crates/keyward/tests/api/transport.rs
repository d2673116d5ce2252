//! HTTPS and trusted proxies. A certificate from a CA generated here (rcgen) is served by
//! `keyward serve --tls-cert/--tls-key`, and `keyward-client` trusting that CA creates and
//! verifies a key over it; SIGHUP to the real binary makes new handshakes use a replaced
//! certificate; a client that never finishes the handshake is cut off by the header
//! timeout. Behind a proxy, `X-Forwarded-For` decides whose leak-report budget a report
//! spends only when the peer is a trusted proxy, and only its rightmost untrusted hop counts.

use crate::helpers::in_process::{self, InProcess};
use crate::helpers::{keyward, log_capture, remember_secret, spawn_app_env, TestApp};
use keyward_client::{Client, Method, SecretString};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A certificate authority made for one test.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Self {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes a certificate for 127.0.0.1 and localhost, and its key, into `dir`.
    fn issue_into(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        // Written whole under another name and renamed, as a certificate renewal does.
        for (path, text) in [(&cert_path, cert.pem()), (&key_path, key.serialize_pem())] {
            let temporary = path.with_extension("new");
            std::fs::write(&temporary, text).unwrap();
            std::fs::rename(&temporary, path).unwrap();
        }
        (cert_path, key_path)
    }
}

/// A client for `https://…` that trusts `authority` (and the usual roots).
fn https_client(address: &str, authority: &Authority, root_key: Option<&str>) -> Client {
    let mut builder = Client::builder(address)
        .unwrap()
        .add_root_certificate(authority.pem().as_bytes())
        .unwrap()
        .timeout(Duration::from_secs(60));
    if let Some(root_key) = root_key {
        builder = builder.root_key(SecretString::from(root_key.to_owned()));
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn a_key_is_created_and_verified_over_https_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("keyward test CA");
    let (cert, key) = authority.issue_into(dir.path());
    let db_url = format!("sqlite://{}", dir.path().join("keyward.db").display());
    let created = keyward::create_workspace(&db_url, "TLS workspace", "bos")
        .await
        .unwrap();
    let root_key = created.root_key.expose().to_owned();
    remember_secret(&root_key);

    let mut config = in_process::config(&db_url, &[]);
    config.tls = Some(keyward::TlsFiles { cert, key });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (id, _log) = log_capture::register();
    let server = InProcess::start(id, config, listener);

    let client = https_client(
        &format!("https://localhost:{port}"),
        &authority,
        Some(&root_key),
    );
    let new_key = client
        .create_key(&keyward_client::api::CreateKeyRequest {
            name: "Stripe Invoice Sending Integration".into(),
            permissions: vec!["invoices:send".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_value();
    remember_secret(&new_key.key);
    let verified = client
        .verify(&keyward_client::api::VerifyRequest {
            key: new_key.key.clone(),
            permission: Some("invoices:send".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_value();
    assert!(verified.valid, "{verified:?}");

    // The same port does not speak plain HTTP, and a client that does not trust the CA
    // refuses the certificate.
    let plain = Client::anonymous(&format!("http://127.0.0.1:{port}")).unwrap();
    assert!(plain
        .send_raw(plain.request(Method::GET, "/healthz"))
        .await
        .is_err());
    let untrusting = Client::anonymous(&format!("https://127.0.0.1:{port}")).unwrap();
    assert!(untrusting
        .send_raw(untrusting.request(Method::GET, "/healthz"))
        .await
        .is_err());
    assert!(server.stop());
}

#[tokio::test]
async fn a_client_that_never_finishes_the_tls_handshake_is_disconnected() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("keyward test CA");
    let (cert, key) = authority.issue_into(dir.path());
    let db_url = format!("sqlite://{}", dir.path().join("keyward.db").display());
    let mut config = in_process::config(
        &db_url,
        &[("KEYWARD_HEADER_TIMEOUT_SECS".into(), "1".into())],
    );
    config.tls = Some(keyward::TlsFiles { cert, key });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (id, _log) = log_capture::register();
    let server = InProcess::start(id, config, listener);

    // Connected, silent: the handshake counts against the header timeout.
    let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut buf = [0u8; 16];
    // A safety net for a server that never closes it, not a timing threshold.
    let closed = tokio::time::timeout(Duration::from_secs(60), silent.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "a silent TLS client kept its connection: {closed:?}"
    );
    let client = https_client(
        &format!("https://127.0.0.1:{}", address.port()),
        &authority,
        None,
    );
    let healthz = client
        .send_raw(client.request(Method::GET, "/healthz"))
        .await
        .unwrap();
    assert_eq!(healthz.status.as_u16(), 200);
    assert!(server.stop());
}

#[test]
fn sighup_makes_new_handshakes_use_the_replaced_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = Authority::new("first CA");
    let (cert, key) = first.issue_into(dir.path());
    let mut child = keyward()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!(
            "sqlite://{}",
            dir.path().join("keyward.db").display()
        ))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("KEYWARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |mark: &str| -> String {
        loop {
            match seen.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains(mark) => return line,
                Ok(_) => {}
                Err(e) => panic!("keyward serve never logged {mark:?}: {e}"),
            }
        }
    };
    let line = wait_for("listening on https://");
    let address: String = line[line.find("https://").unwrap() + 8..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':'))
        .collect();
    let url = format!("https://{address}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let healthz = |authority: &Authority| {
        let client = https_client(&url, authority, None);
        runtime
            .block_on(client.send_raw(client.request(Method::GET, "/healthz")))
            .map(|r| r.status.as_u16())
    };
    assert_eq!(healthz(&first).unwrap(), 200);

    let second = Authority::new("second CA");
    second.issue_into(dir.path());
    // Until the signal, the certificate in use stays.
    assert!(healthz(&second).is_err());
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_for("TLS certificate reloaded");
    let after = healthz(&second);
    let old = healthz(&first);

    // A broken pair on the next SIGHUP keeps the certificate in use.
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    let refused = wait_for("not reloaded");
    let still = healthz(&second);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(after.unwrap(), 200, "the new certificate is not served");
    assert!(old.is_err(), "the old certificate is still served");
    assert!(!refused.contains("not a key"), "{refused}");
    assert_eq!(
        still.unwrap(),
        200,
        "a failed reload dropped the certificate"
    );
}

/// `statuses` of `count` leak reports sent at once, each with `X-Forwarded-For` from `xff`.
async fn report_statuses(app: &TestApp, count: usize, xff: impl Fn(usize) -> String) -> Vec<u16> {
    let anonymous = app.anonymous();
    let reports = (0..count).map(|i| {
        let request = anonymous
            .request(Method::POST, "/v1/leaks")
            .header("x-forwarded-for", xff(i))
            .json(&json!({"keys": ["bos_x"]}));
        anonymous.send(request)
    });
    futures_util::future::join_all(reports)
        .await
        .into_iter()
        .map(|answer| answer.status.as_u16())
        .collect()
}

const BURST: usize = 20;

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app_env(1, &[]);
    // Every report claims another client; all come from 127.0.0.1 and share its budget.
    let statuses = report_statuses(&app, BURST + 1, |i| format!("198.51.100.{i}")).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_peer_that_is_not_a_trusted_proxy_cannot_pick_its_client() {
    let app = spawn_app_env(1, &[("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/8")]);
    let statuses = report_statuses(&app, BURST + 1, |i| format!("198.51.100.{i}")).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_cannot_spoof_another() {
    let app = spawn_app_env(1, &[("KEYWARD_TRUSTED_PROXIES", "127.0.0.1/32")]);
    // One client spends its whole budget; a spoofed entry left of what the proxy saw
    // changes nothing.
    let statuses =
        report_statuses(&app, BURST + 1, |i| format!("203.0.113.{i}, 198.51.100.1")).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
    // Another client behind the same proxy still has its own.
    let other = report_statuses(&app, 1, |_| "198.51.100.2".to_owned()).await;
    assert_eq!(other, [202]);
}
