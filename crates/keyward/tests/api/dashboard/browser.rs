//! Headless Chromium over WebDriver: `chromedriver` started on a free loopback port, a
//! fresh profile, fantoccini as the client; axe-core injected into each page; screenshots.
//! Without chromedriver or axe-core the browser tests say SKIPPED, and fail instead under
//! `KEYWARD_REQUIRE_SERVICES=1` (which `.ci/run` sets after installing both).

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the tools are, or `None` after announcing the skip.
pub struct Tools {
    chromedriver: PathBuf,
    axe: String,
}

pub fn tools(test: &str) -> Option<Tools> {
    let chromedriver = std::env::var("KEYWARD_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/chromedriver"));
    let axe = std::env::var("KEYWARD_AXE_JS")
        .ok()
        .and_then(|path| std::fs::read_to_string(path).ok());
    let missing = match (chromedriver.exists(), &axe) {
        (true, Some(_)) => None,
        (false, _) => Some(format!(
            "{} is missing; install Debian's chromium and chromium-driver",
            chromedriver.display()
        )),
        (true, None) => Some(
            "KEYWARD_AXE_JS does not name axe.min.js; run `npm install --prefix target/axe axe-core@4` \
             and set KEYWARD_AXE_JS=target/axe/node_modules/axe-core/axe.min.js"
                .to_owned(),
        ),
    };
    if let Some(why) = missing {
        let line = format!("SKIPPED {test}: {why}");
        assert!(
            std::env::var("KEYWARD_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{line} (KEYWARD_REQUIRE_SERVICES=1 forbids skipping)"
        );
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(format!("\n{line}\n").as_bytes());
        return None;
    }
    Some(Tools {
        chromedriver,
        axe: axe.unwrap_or_default(),
    })
}

/// A chromedriver process and a browser session on it; both end on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    axe: String,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(tools: Tools, suite: &str) -> Browser {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_binary(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session in headless Chromium");
        let screenshots = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/ui-screenshots")
            .join(suite);
        std::fs::create_dir_all(&screenshots).unwrap();
        Browser {
            client,
            driver,
            axe: tools.axe,
            screenshots,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.select_by_value(value).await.unwrap();
    }

    /// Clicks `css` (a button or link that loads a page) and waits until the page it was on
    /// is gone, so what is read next is the new page.
    pub async fn click(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.tick(css).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        // The old page's root goes stale once the browser has replaced the page.
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} loaded no page");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Clicks `css` where no page loads (a checkbox).
    pub async fn tick(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The element `css`, waiting for the page that shows it (a form's answer loads after
    /// the click returns).
    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no {css} on {} ({e}):\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    /// The value of the input `css` (a key shown once, a link).
    pub async fn value(&self, css: &str) -> String {
        let field = self.wait_for(css).await;
        field.prop("value").await.unwrap().unwrap_or_default()
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    /// Screenshot of the page as `<name>.png`, then axe-core over it: a serious or critical
    /// violation fails the test.
    pub async fn check_page(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).unwrap();
        let script = format!("{}\n;return typeof axe;", self.axe);
        let loaded = self.client.execute(&script, vec![]).await.unwrap();
        assert_eq!(loaded, json!("object"), "axe-core did not load on {name}");
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(
                   r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' ')) }))),
                   e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                vec![],
            )
            .await
            .unwrap();
        let grave: Vec<&Value> = violations
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            grave.is_empty(),
            "axe-core found serious or critical violations on {name}: {grave:#?}"
        );
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Debian's Chromium (the driver finds it by itself elsewhere).
fn chromium_binary() -> String {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
        .to_owned()
}
