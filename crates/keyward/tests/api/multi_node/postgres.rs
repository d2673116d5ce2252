//! Two `keyward serve` nodes on one PostgreSQL database (a scratch database per test, when
//! `KEYWARD_TEST_POSTGRES_URL` names a server; otherwise each test says it was skipped):
//! changes through node A reach node B through `LISTEN/NOTIFY` and the change log, and a
//! node that loses its database (a proxy between it and PostgreSQL is cut) answers `503`
//! rather than a stale `VALID` once the freshness bound has passed, then recovers by itself.

use super::propagation;
use super::serve_node::ServeNode;
use crate::helpers::remember_secret;
use crate::helpers::tcp_proxy::TcpProxy;
use crate::skip::service_url;
use keyward_api::{
    CreateKeyRequest, RevokeKeyRequest, UpdateWorkspaceSettings, VerificationAudit, VerifyCode,
    VerifyRequest,
};
use keyward_app::follow::FRESHNESS_BOUND;
use keyward_app::{bootstrap, SystemClock};
use keyward_client::{Client, SecretString, StatusCode};
use keyward_core::Store;
use keyward_postgres::scratch::ScratchDatabase;
use keyward_postgres::PostgresStore;
use std::time::{Duration, Instant};

/// Far beyond reconnecting (a 3 s connect timeout, a 5 s resubscribe backoff at most); only
/// reached when a node never recovers.
const RECOVERS_WITHIN: Duration = Duration::from_secs(60);

/// A scratch database with one workspace; its root key. `None` when skipped.
async fn database(test: &str) -> Option<(ScratchDatabase, String)> {
    let server = service_url(
        "KEYWARD_TEST_POSTGRES_URL",
        test,
        "set KEYWARD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test",
    )?;
    let db = ScratchDatabase::create(&server).await.unwrap();
    let store = PostgresStore::connect(db.url()).unwrap();
    store.migrate().await.unwrap();
    let created = bootstrap::create_workspace(&store, &SystemClock, "Shared", "bos")
        .await
        .unwrap();
    store.close().await;
    let root = created.root_key.expose().to_owned();
    remember_secret(&root);
    Some((db, root))
}

/// The host and port of a `postgres://user@host:port/db` URL, and the URL with another
/// host and port.
fn host_port(url: &str) -> (String, impl Fn(&str) -> String + '_) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let start = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let through = move |address: &str| format!("{}{address}{}", &url[..start], &url[end..]);
    (url[start..end].to_owned(), through)
}

fn client(node: &ServeNode, root: &str) -> Client {
    Client::new(&node.address, SecretString::from(root.to_owned())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_node_reach_the_other_through_postgres() {
    let test = "changes_through_one_node_reach_the_other_through_postgres";
    let Some((db, root)) = database(test).await else {
        return;
    };
    let (a, b) = (ServeNode::start(db.url()), ServeNode::start(db.url()));
    let times = propagation::run(&client(&a, &root), &client(&b, &root), 26).await;
    assert!(times.len() >= 200, "at least 200 changes measured");
    propagation::report("PostgreSQL, two keyward serve nodes, LISTEN/NOTIFY", times);
}

/// B's answer to verifying `key`: its code, or the HTTP status of an error.
async fn answer(b: &Client, key: &str) -> Result<VerifyCode, StatusCode> {
    let request = VerifyRequest {
        key: key.to_owned(),
        ..Default::default()
    };
    b.verify(&request)
        .await
        .map(|reply| reply.value.code)
        .map_err(|e| e.status().expect("node B answers (with an error status)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_from_the_database_answers_503_not_a_stale_valid_and_recovers() {
    let test = "a_node_cut_from_the_database_answers_503_not_a_stale_valid_and_recovers";
    let Some((db, root)) = database(test).await else {
        return;
    };
    let (upstream, through) = host_port(db.url());
    let proxy = TcpProxy::start(upstream.parse().unwrap()).await;
    let a = ServeNode::start(db.url());
    let b = ServeNode::start(&through(&proxy.address().to_string()));
    let (a_client, b_client) = (client(&a, &root), client(&b, &root));
    // Verifications write no event, so B's answers depend on its index alone: a 503 comes
    // from the freshness rule, not from an audit write that cannot reach the database.
    a_client
        .update_workspace(&UpdateWorkspaceSettings {
            verification_audit: Some(VerificationAudit::None),
            ..Default::default()
        })
        .await
        .unwrap();
    let created = a_client
        .create_key(&CreateKeyRequest {
            name: "Cut Feed Probe".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .value;
    remember_secret(&created.key);
    let started = Instant::now();
    while answer(&b_client, &created.key).await != Ok(VerifyCode::Valid) {
        assert!(started.elapsed() < RECOVERS_WITHIN, "B never saw the key");
    }

    // B loses the database (and its LISTEN session); A revokes the key meanwhile.
    let cut_at = Instant::now();
    proxy.cut();
    a_client
        .revoke_key(&created.record.id, &RevokeKeyRequest::default())
        .await
        .unwrap();
    // Within the bound B may still answer from the index it confirmed before the cut; a
    // request sent after it must never be VALID. It answers 503 until it has caught up.
    let mut unavailable_after = None;
    loop {
        let sent = Instant::now();
        let code = answer(&b_client, &created.key).await;
        if sent.duration_since(cut_at) > FRESHNESS_BOUND {
            assert_ne!(
                code,
                Ok(VerifyCode::Valid),
                "B answered VALID {:?} after losing its feed",
                sent.duration_since(cut_at)
            );
        }
        if code == Err(StatusCode::SERVICE_UNAVAILABLE) {
            unavailable_after.get_or_insert(sent.duration_since(cut_at));
            if sent.duration_since(cut_at) > FRESHNESS_BOUND * 3 {
                break;
            }
        }
        assert!(
            cut_at.elapsed() < RECOVERS_WITHIN,
            "B never failed closed: {code:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = b_client.ready().await;
    assert_eq!(
        ready.err().and_then(|e| e.status()),
        Some(StatusCode::SERVICE_UNAVAILABLE),
        "/readyz says B is not ready"
    );

    // The database comes back: B reconnects and catches up by itself, and its first answer
    // after that is the revocation.
    let restored_at = Instant::now();
    proxy.restore();
    let code = loop {
        match answer(&b_client, &created.key).await {
            Err(StatusCode::SERVICE_UNAVAILABLE) => {}
            other => break other,
        }
        assert!(restored_at.elapsed() < RECOVERS_WITHIN, "B never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        code,
        Ok(VerifyCode::Revoked),
        "the revocation made while B was cut"
    );
    assert!(b_client.ready().await.is_ok(), "/readyz: ready again");
    eprintln!(
        "\nnode cut from PostgreSQL: 503 from {:.0} ms after the cut (bound {} ms); caught up {:.0} ms after the database came back\n",
        unavailable_after.unwrap_or_default().as_secs_f64() * 1e3,
        FRESHNESS_BOUND.as_millis(),
        restored_at.elapsed().as_secs_f64() * 1e3
    );
    drop((a, b));
}

/// The `value` of the first input after `marker` in `page`.
fn value_after(page: &str, marker: &str) -> String {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {page}"));
    let rest = &page[at..];
    let start = rest.find("value=\"").unwrap() + "value=\"".len();
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_session_and_a_handover_link_work_on_either_node_and_the_link_opens_once() {
    let test =
        "a_dashboard_session_and_a_handover_link_work_on_either_node_and_the_link_opens_once";
    let Some((db, root)) = database(test).await else {
        return;
    };
    let (a, b) = (ServeNode::start(db.url()), ServeNode::start(db.url()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = http
        .post(format!("{}/ui/sign-in", a.address))
        .form(&[("root_key", root.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // Node B knows the session node A started, and its form token is the same.
    let form = http
        .get(format!("{}/ui/keys/new", b.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let csrf = value_after(&form.text().await.unwrap(), "name=\"csrf\"");
    let created = http
        .post(format!("{}/ui/keys/new", b.address))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Billing Service"),
            ("permissions", "invoices:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let page = created.text().await.unwrap();
    let (key, key_id) = (
        value_after(&page, "id=\"new-key\""),
        value_after(&page, "name=\"key_id\""),
    );
    remember_secret(&key);
    let made = http
        .post(format!("{}/ui/handovers", a.address))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("key_id", key_id.as_str()),
            ("key", key.as_str()),
            ("hours", "72"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let link = value_after(&made.text().await.unwrap(), "id=\"link\"");
    let path = &link[link.find("/ui/pickup/").unwrap()..];
    let open = |node: &ServeNode| http.post(format!("{}{path}", node.address)).send();
    let first = open(&b).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains(&key));
    let second = open(&a).await.unwrap();
    assert_eq!(
        second.status(),
        404,
        "the link opened on node B is gone on node A"
    );
    assert!(!second.text().await.unwrap().contains(&key));
    // Signing out on B ends the session on A too.
    let out = http
        .post(format!("{}/ui/sign-out", b.address))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = http
        .get(format!("{}/ui/keys", a.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
}
