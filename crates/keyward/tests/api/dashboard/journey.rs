//! A person's journey through the dashboard in headless Chromium, against a real server on
//! loopback: sign in, create a key and read it off the page, verify it over the API, hand it
//! over through a one-time link (a second opening fails), restrict it (verify answers
//! `FORBIDDEN`), disable and enable it, rotate it, revoke it (verify refuses it), read its
//! audit trail and the chain check, create a root key, sign out (the pages refuse, also the
//! old cookie). Every page is checked with axe-core and photographed.

use super::browser::{tools, Browser};
use crate::helpers::{assert_no_secret_in, remember_secret, spawn_app};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_created_handed_over_restricted_rotated_revoked_and_audited_in_the_browser() {
    let Some(tools) =
        tools("a_key_is_created_handed_over_restricted_rotated_revoked_and_audited_in_the_browser")
    else {
        return;
    };
    let app = spawn_app();
    let base = app.address.clone();
    let b = Browser::start(tools, "journey").await;

    // Signed out, every page leads to the sign-in page, which names this server.
    b.goto(&format!("{base}/ui/keys")).await;
    assert!(b.url().await.ends_with("/ui/sign-in"), "{}", b.url().await);
    assert!(b.source().await.contains(app.socket_addr()));
    b.check_page("01-sign-in").await;

    // A wrong key is refused without being shown back.
    b.fill("#root_key", "kw_root_notarealkeyatall").await;
    b.click("form.card button[type=submit]").await;
    assert!(b.text("#sign-in-error").await.contains("not a root key"));
    assert!(!b.source().await.contains("notarealkeyatall"));

    b.fill("#root_key", app.root_key()).await;
    b.click("form.card button[type=submit]").await;
    assert!(b.url().await.ends_with("/ui/keys"), "{}", b.url().await);
    let page = b.source().await;
    assert!(page.contains("There is no active key yet"));
    assert!(
        !page.contains(app.root_key()),
        "the root key is never put in a page"
    );
    b.check_page("02-keys-empty").await;

    // Create: a generic name is refused inline with the hint, and nothing typed is lost.
    b.click("a.button.primary").await;
    b.check_page("03-key-new").await;
    b.fill("#name", "API key").await;
    b.fill("#permissions", "invoices:read").await;
    b.click("form.card button[type=submit]").await;
    assert!(b.text("#form-error").await.contains("too generic"));
    assert_eq!(b.value("#permissions").await, "invoices:read");
    b.check_page("04-key-new-refused").await;
    b.fill("#name", "Billing Service (production)").await;
    b.click("form.card button[type=submit]").await;
    let key = b.value("#new-key").await;
    let key_id = b.value("input[name=key_id]").await;
    remember_secret(&key);
    assert!(key.len() > 30 && !key.starts_with("kw_root_"), "{key}");
    assert!(b.source().await.contains("it will not be shown again"));
    b.check_page("05-show-once").await;
    assert_eq!(
        app.api().verify_code(&key, Some("invoices:read")).await,
        "VALID"
    );

    // A one-time link: made from the show-once page, opened once, then gone.
    b.select("#hours", "72").await;
    b.click("form[action='/ui/handovers'] button[type=submit]")
        .await;
    let link = b.value("#link").await;
    assert!(link.starts_with(&format!("{base}/ui/pickup/ho_")), "{link}");
    assert!(
        !b.source().await.contains(&key),
        "the link's page does not show the key"
    );
    b.check_page("06-handover-link").await;

    // Going back to the show-once answer does not show the key again.
    b.client.back().await.unwrap();
    assert!(
        !b.source().await.contains(&key),
        "going back shows the key again"
    );
    b.client.back().await.unwrap();
    assert!(
        !b.source().await.contains(&key),
        "going back shows the key again"
    );

    b.goto(&link).await;
    assert!(
        !b.source().await.contains(&key),
        "the link shows nothing before it is opened"
    );
    b.check_page("07-pickup-confirm").await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.value("#picked-key").await, key);
    b.check_page("08-pickup-key").await;
    b.goto(&link).await;
    b.click("form button[type=submit]").await;
    let gone = b.text("#link-gone").await;
    assert!(gone.contains("already used, has expired, or never existed"));
    assert!(!b.source().await.contains(&key));
    b.check_page("09-pickup-gone").await;
    let (id, _) = link.rsplit_once('/').unwrap();
    b.goto(&format!("{id}/{}", "0".repeat(64))).await;
    b.click("form button[type=submit]").await;
    assert_eq!(
        b.text("#link-gone").await,
        gone,
        "a wrong link looks the same"
    );

    // Restrict to one IP address: verify from another answers FORBIDDEN.
    b.goto(&format!("{base}/ui/keys/{key_id}")).await;
    b.check_page("10-key-page").await;
    b.fill("#ip_allowlist", "203.0.113.7").await;
    b.click(
        "form[action='/ui/keys/{key_id}'] button[type=submit]"
            .replace("{key_id}", &key_id)
            .as_str(),
    )
    .await;
    assert!(b.text("#done").await.contains("Saved"));
    let verify = |ip: &'static str, key: String| {
        let api = app.api();
        async move {
            let answer = api
                .post("/v1/verify", &json!({ "key": key, "ip": ip }))
                .await;
            answer.expect(200)["code"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(verify("198.51.100.1", key.clone()).await, "FORBIDDEN");
    assert_eq!(verify("203.0.113.7", key.clone()).await, "VALID");
    b.check_page("11-key-restricted").await;

    // Disable, then enable again.
    b.click("form[action$='/enabled'] button").await;
    assert!(b.text("#done").await.contains("Disabled"));
    assert_eq!(verify("203.0.113.7", key.clone()).await, "DISABLED");
    b.click("form[action$='/enabled'] button").await;
    assert_eq!(verify("203.0.113.7", key.clone()).await, "VALID");

    // Rotate without grace: the new key is shown once, the old one is refused.
    b.select("#grace", "0").await;
    b.click("form[action$='/rotate'] button").await;
    let rotated = b.value("#new-key").await;
    let rotated_id = b.value("input[name=key_id]").await;
    remember_secret(&rotated);
    assert_ne!(rotated, key);
    b.check_page("12-rotated").await;
    assert_eq!(verify("203.0.113.7", key.clone()).await, "REVOKED");
    assert_eq!(verify("203.0.113.7", rotated.clone()).await, "VALID");

    // Revoke the new key: a confirmation is needed, then verify refuses it.
    b.goto(&format!("{base}/ui/keys/{rotated_id}")).await;
    b.fill("#reason", "no longer used").await;
    b.tick("#confirm").await;
    b.click("form[action$='/revoke'] button").await;
    assert!(b.text("#done").await.contains("Revoked"));
    assert_eq!(verify("203.0.113.7", rotated.clone()).await, "REVOKED");
    b.check_page("13-revoked").await;

    // The audit trail: the key's events, linked to its page; the chain is whole.
    b.goto(&format!("{base}/ui/audit?key_id={key_id}")).await;
    let trail = b.source().await;
    for kind in [
        "key.created",
        "key.handover_created",
        "key.picked_up",
        "key.updated",
        "key.rotated",
        "key.verified",
    ] {
        assert!(trail.contains(kind), "the key's trail shows {kind}");
    }
    assert!(trail.contains(&format!("href=\"/ui/keys/{key_id}\"")));
    b.check_page("14-audit-key").await;
    b.goto(&format!("{base}/ui/audit")).await;
    assert!(b.source().await.contains("dashboard.signed_in"));
    b.check_page("15-audit").await;
    b.goto(&format!("{base}/ui/audit/check")).await;
    assert!(b.text("#chain-status").await.contains("The chain is whole"));
    b.check_page("16-audit-check").await;
    b.goto(&format!("{base}/ui/keys?status=any")).await;
    b.check_page("17-keys").await;

    // Root keys: one with limited rights, shown once.
    b.goto(&format!("{base}/ui/root-keys")).await;
    b.check_page("18-root-keys").await;
    b.fill("#root-name", "Deploy pipeline").await;
    b.fill("#rights", "keys:read").await;
    b.click("form[action='/ui/root-keys'] button").await;
    let limited = b.value("#new-key").await;
    remember_secret(&limited);
    assert!(limited.starts_with("kw_root_"));
    b.check_page("19-root-key-created").await;
    let limited_api = app.as_root(&limited);
    limited_api.get("/v1/keys").await.expect(200);
    // Revoke it: the newest root key is listed first; a confirmation is needed.
    b.goto(&format!("{base}/ui/root-keys")).await;
    b.tick("form.inline input[name=confirm]").await;
    b.click("form.inline button").await;
    assert!(b.source().await.contains("revoked"));
    limited_api.get("/v1/keys").await.expect(401);

    // The export holds the filtered trail, one JSON event a line.
    let export = reqwest::Client::new()
        .get(format!("{base}/ui/audit/export?kind=key.picked_up"))
        .header(
            "cookie",
            format!(
                "kw_session={}",
                b.client
                    .get_named_cookie("kw_session")
                    .await
                    .unwrap()
                    .value()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "one pickup");
    assert_eq!(lines[0]["key_id"], key_id.as_str());
    assert_eq!(lines[0]["ip"], "127.0.0.1", "who picked the key up");

    // On a phone-sized screen the pages reflow and stay usable.
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto(&format!("{base}/ui/keys?status=any")).await;
    b.check_page("20-keys-phone").await;
    b.goto(&format!("{base}/ui/keys/{key_id}")).await;
    b.check_page("21-key-page-phone").await;
    b.client.set_window_size(1280, 1000).await.unwrap();

    // Sign out: the pages refuse, and so does the old session cookie.
    let cookie = b
        .client
        .get_named_cookie("kw_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    b.click("form.signout button").await;
    assert!(b.url().await.contains("/ui/sign-in"));
    b.check_page("22-signed-out").await;
    b.goto(&format!("{base}/ui/keys/{key_id}")).await;
    assert!(b.url().await.ends_with("/ui/sign-in"));
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/ui/keys"))
        .header("cookie", format!("kw_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert_eq!(replay.headers()["location"], "/ui/sign-in");
    b.close().await;

    // Nothing secret reached the log; the database holds no session token and no key.
    let log = app.log_text();
    assert_no_secret_in("the server log", &log);
    assert!(
        !log.contains(app.root_key()),
        "the server log holds the root key"
    );
    assert!(
        !log.contains(&cookie),
        "the server log holds the session token"
    );
    for file in ["", "-wal"] {
        let path = format!("{}{file}", app.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&cookie), "{path} holds the session token");
            for secret in [app.root_key(), &key, &rotated, &limited] {
                assert!(!text.contains(secret), "{path} holds a key in plain text");
            }
        }
    }
}
