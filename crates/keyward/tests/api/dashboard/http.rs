//! The dashboard's HTTP rules, without a browser: security headers, the session cookie's
//! attributes, forms refused without the session's token or from another origin (and
//! nothing changed), a show-once answer that is never stored, sign-in failures that do not
//! echo the key.

use crate::helpers::{spawn_app, TestApp};
use reqwest::header::{HeaderMap, CACHE_CONTROL, LOCATION, SET_COOKIE};
use reqwest::{Client, Response};

fn browser_like() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in as workspace 0's root key; the session cookie (`kw_session=…`).
async fn sign_in(app: &TestApp, client: &Client) -> String {
    let answer = client
        .post(format!("{}/ui/sign-in", app.address))
        .header("origin", &app.address)
        .form(&[("root_key", app.root_key())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    cookie_of(answer.headers())
}

fn cookie_of(headers: &HeaderMap) -> String {
    let set = headers[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// The session's form token, read off a page as a browser would.
async fn csrf(app: &TestApp, client: &Client, cookie: &str) -> String {
    csrf_from(app, client, cookie, "/ui/keys/new").await
}

/// The form token on the page at `path` (every page's sign-out form has it).
async fn csrf_from(app: &TestApp, client: &Client, cookie: &str, path: &str) -> String {
    let page = client
        .get(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let needle = "name=\"csrf\" value=\"";
    let start = page.find(needle).unwrap() + needle.len();
    page[start..start + 64].to_owned()
}

async fn post_form(
    app: &TestApp,
    client: &Client,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> Response {
    let mut request = client
        .post(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .form(form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_dashboard_answer_carries_the_strict_security_headers() {
    let app = spawn_app();
    for path in [
        "/ui/sign-in",
        "/ui/keys",
        "/ui/nowhere",
        "/ui/assets/app.css",
    ] {
        let answer = browser_like()
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        let h = answer.headers();
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "{path}"
        );
        assert_eq!(h[CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}

#[tokio::test]
async fn signing_in_sets_an_http_only_strict_cookie_for_ui_only_and_secure_behind_tls() {
    let app = spawn_app();
    let answer = browser_like()
        .post(format!("{}/ui/sign-in", app.address))
        .form(&[("root_key", app.root_key())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/ui/keys");
    let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    assert!(!set.contains(app.root_key()));
    let behind_tls = browser_like()
        .post(format!("{}/ui/sign-in", app.address))
        .header("x-forwarded-proto", "https")
        .form(&[("root_key", app.root_key())])
        .send()
        .await
        .unwrap();
    assert!(behind_tls.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Secure"));
}

#[tokio::test]
async fn a_wrong_root_key_is_refused_with_401_and_never_shown_back() {
    let app = spawn_app();
    for attempt in [
        "kw_root_thisisnotakey",
        "not even a key <script>",
        // A valid customer key is no root key.
        "kw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let answer = browser_like()
            .post(format!("{}/ui/sign-in", app.address))
            .form(&[("root_key", attempt)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{attempt}");
        assert!(answer.headers().get(SET_COOKIE).is_none());
        let page = answer.text().await.unwrap();
        assert!(!page.contains(attempt), "{attempt} shown back");
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_token_or_from_another_site_is_refused_and_changes_nothing() {
    let app = spawn_app();
    let client = browser_like();
    let cookie = sign_in(&app, &client).await;
    let token = csrf(&app, &client, &cookie).await;
    let create = |csrf: &'static str| {
        [
            ("csrf", csrf),
            ("name", "Billing Service"),
            ("permissions", "invoices:read"),
        ]
    };
    let forged = post_form(
        &app,
        &client,
        "/ui/keys/new",
        &cookie,
        Some(&app.address),
        &create("0"),
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert!(forged
        .text()
        .await
        .unwrap()
        .contains("This form has expired"));
    let token: &'static str = Box::leak(token.into_boxed_str());
    let elsewhere = post_form(
        &app,
        &client,
        "/ui/keys/new",
        &cookie,
        Some("https://evil.example"),
        &create(token),
    )
    .await;
    assert_eq!(elsewhere.status(), 403);
    let cross_site = client
        .post(format!("{}/ui/keys/new", app.address))
        .header("cookie", &cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "cross-site")
        .form(&create(token))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let listed = app.api().get("/v1/keys?status=active").await;
    let listed = listed.expect(200);
    assert_eq!(
        listed["keys"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
    // Without a session, a post leads to sign-in and changes nothing either.
    let signed_out = post_form(
        &app,
        &client,
        "/ui/keys/new",
        "",
        Some(&app.address),
        &create(token),
    )
    .await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(signed_out.headers()[LOCATION], "/ui/sign-in");
    // With both, the key is created and shown once, in the answer to the post.
    let made = post_form(
        &app,
        &client,
        "/ui/keys/new",
        &cookie,
        Some(&app.address),
        &create(token),
    )
    .await;
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers()[CACHE_CONTROL], "no-store");
    let page = made.text().await.unwrap();
    let needle = "id=\"new-key\" class=\"key\" readonly value=\"";
    let start = page.find(needle).unwrap() + needle.len();
    let key = &page[start..page[start..].find('"').unwrap() + start];
    crate::helpers::remember_secret(key);
    assert_eq!(
        app.api().verify_code(key, Some("invoices:read")).await,
        "VALID"
    );
    // A GET of the same address shows the empty form, never the key; the list shows its start.
    for path in ["/ui/keys/new", "/ui/keys"] {
        let again = client
            .get(format!("{}{path}", app.address))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!again.contains(key), "{path} shows the key again");
    }
    // Posting the same form again (a reload) does not show a key either: the name is taken.
    let reload = post_form(
        &app,
        &client,
        "/ui/keys/new",
        &cookie,
        Some(&app.address),
        &create(token),
    )
    .await;
    assert_eq!(reload.status(), 409);
    assert!(!reload.text().await.unwrap().contains("id=\"new-key\""));
}

#[tokio::test]
async fn a_revoked_root_keys_session_ends_at_once() {
    let app = spawn_app();
    let client = browser_like();
    let made = app
        .api()
        .post(
            "/v1/root-keys",
            &serde_json::json!({ "name": "Support desk", "permissions": ["keys:read"] }),
        )
        .await;
    let made = made.expect(201);
    let (root_id, root_key) = (
        made["id"].as_str().unwrap().to_owned(),
        made["key"].as_str().unwrap().to_owned(),
    );
    crate::helpers::remember_secret(&root_key);
    let answer = client
        .post(format!("{}/ui/sign-in", app.address))
        .form(&[("root_key", root_key.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(answer.headers());
    let page = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/ui/keys", app.address);
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(page(cookie.clone()).await, 200);
    app.api()
        .post(
            &format!("/v1/root-keys/{root_id}/revoke"),
            &serde_json::json!({}),
        )
        .await
        .expect(200);
    assert_eq!(page(cookie).await, 303);
}

#[tokio::test]
async fn a_root_key_with_limited_rights_sees_only_the_pages_its_rights_allow() {
    let app = spawn_app();
    let client = browser_like();
    let made = app
        .api()
        .post(
            "/v1/root-keys",
            &serde_json::json!({ "name": "Read-only support", "permissions": ["keys:read"] }),
        )
        .await;
    let reader = made.expect(201)["key"].as_str().unwrap().to_owned();
    crate::helpers::remember_secret(&reader);
    let answer = client
        .post(format!("{}/ui/sign-in", app.address))
        .form(&[("root_key", reader.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(answer.headers());
    for (path, status) in [
        ("/ui/keys", 200),
        ("/ui/keys/new", 403),
        ("/ui/audit", 403),
        ("/ui/root-keys", 403),
    ] {
        let page = client
            .get(format!("{}{path}", app.address))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), status, "{path}");
        if status == 403 {
            assert!(
                page.text().await.unwrap().contains("may not do this"),
                "{path}"
            );
        }
    }
    let token = csrf_from(&app, &client, &cookie, "/ui/keys").await;
    let refused = post_form(
        &app,
        &client,
        "/ui/keys/new",
        &cookie,
        Some(&app.address),
        &[("csrf", token.as_str()), ("name", "Billing Service")],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let listed = app.api().get("/v1/keys?status=active").await;
    assert_eq!(listed.expect(200)["keys"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_keys_page_shows_its_advice_and_a_dismissal_hides_it() {
    let app = spawn_app();
    let client = browser_like();
    let key = app.api().new_key("Backend Server", &[]).await;
    let cookie = sign_in(&app, &client).await;
    let path = format!("/ui/keys/{}", key.id);
    let page = |cookie: String| {
        let (client, url) = (client.clone(), format!("{}{path}", app.address));
        async move {
            let answer = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            answer.text().await.unwrap()
        }
    };
    let shown = page(cookie.clone()).await;
    assert!(shown.contains("Safety advice"), "{shown}");
    assert!(shown.contains("generic_name"));
    let token = csrf_from(&app, &client, &cookie, &path).await;
    let dismissed = post_form(
        &app,
        &client,
        &format!("{path}/advice/generic_name/dismiss"),
        &cookie,
        Some(&app.address),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(dismissed.status(), 303);
    assert!(dismissed.headers()[LOCATION]
        .to_str()
        .unwrap()
        .ends_with("?done=dismissed"));
    let after = page(cookie.clone()).await;
    assert!(!after.contains("/advice/generic_name/dismiss"), "{after}");
    assert!(
        after.contains("advice.dismissed"),
        "the key's trail records it"
    );
}
