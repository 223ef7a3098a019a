//! A minimal W3C WebDriver client for browser tests: Debian's `chromedriver`
//! driving headless `chromium` (both installed by `.ci/services`), spoken to
//! as JSON over reqwest. Just the commands the sign-in pages need.
//!
//! The test at the bottom proves it end to end against the OAuth pages served
//! by a tiny router, and leaves screenshots in `target/screenshots/`.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alert_worker::testing::within;
use anyhow::{Context, bail};
use axum::{Form, Router, extract::Query, http::header, response::Html, routing::get};
use base64::{Engine, engine::general_purpose::STANDARD};
use mcp_gateway::oauth::pages::{
    self, Account, ConnectionLine, Consent, ErrorPage, STYLESHEET, STYLESHEET_PATH, ScopeLine,
    SignIn,
};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key a W3C element reference is returned under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A chromedriver process with one browser session. Dropping it ends the
/// session (which closes chromium) and then kills chromedriver's process
/// group, so that nothing outlives the test even when it panics.
pub struct Browser {
    http: reqwest::Client,
    driver: SocketAddr,
    base: String,
    session: String,
    chromedriver: Child,
    /// Holds chromedriver's log, quoted when something fails.
    logs: TempDir,
}

/// An element reference from [`Browser::find_css`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free port, waits until it reports ready, and
    /// opens a headless session.
    pub async fn start() -> anyhow::Result<Self> {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            if !std::path::Path::new(binary).exists() {
                bail!(
                    "{binary} is missing: run `bash .ci/services` (installs chromium and chromium-driver)"
                );
            }
        }
        let logs = tempfile::tempdir().context("a directory for chromedriver's log")?;
        let port = free_port()?;
        let driver = SocketAddr::from(([127, 0, 0, 1], port));
        let mut chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                logs.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop can take chromium down with it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the WebDriver HTTP client")?;
        let base = format!("http://{driver}");

        let started = Instant::now();
        within(
            "chromedriver reports ready",
            Duration::from_secs(20),
            async || {
                if let Ok(Some(status)) = chromedriver.try_wait() {
                    panic!("chromedriver exited early ({status}): {}", read_log(&logs));
                }
                let response = http
                    .get(format!("{base}/status"))
                    .send()
                    .await
                    .map_err(|error| error.to_string())?;
                let status: Value = response.json().await.map_err(|error| error.to_string())?;
                match status["value"]["ready"].as_bool() {
                    Some(true) => Ok(()),
                    _ => Err(status.to_string()),
                }
            },
        )
        .await;
        let ready = started.elapsed();

        let mut browser = Self {
            http,
            driver,
            base,
            session: String::new(),
            chromedriver,
            logs,
        };
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1000,900",
                        ],
                    },
                },
            },
        });
        let started = Instant::now();
        let created = browser
            .request(
                Method::POST,
                format!("{}/session", browser.base),
                Some(capabilities),
            )
            .await
            .with_context(|| {
                format!(
                    "creating a session; chromedriver's log: {}",
                    read_log(&browser.logs)
                )
            })?;
        browser.session = created["sessionId"]
            .as_str()
            .with_context(|| format!("no sessionId in {created}"))?
            .to_owned();
        eprintln!(
            "webdriver: chromedriver ready in {ready:?}, chromium session in {:?}",
            started.elapsed()
        );
        Ok(browser)
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command(Method::POST, "/url", json!({ "url": url }))
            .await?;
        Ok(())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        string(self.command(Method::GET, "/url", Value::Null).await?)
    }

    /// The first element matching a CSS selector.
    pub async fn find_css(&self, selector: &str) -> anyhow::Result<Element> {
        let found = self
            .command(
                Method::POST,
                "/element",
                json!({ "using": "css selector", "value": selector }),
            )
            .await
            .with_context(|| format!("finding {selector:?}"))?;
        let id = found[ELEMENT]
            .as_str()
            .with_context(|| format!("no element reference in {found}"))?;
        Ok(Element(id.to_owned()))
    }

    pub async fn send_keys(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        let path = format!("/element/{}/value", element.0);
        self.command(Method::POST, &path, json!({ "text": text }))
            .await?;
        Ok(())
    }

    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        let path = format!("/element/{}/click", element.0);
        self.command(Method::POST, &path, json!({})).await?;
        Ok(())
    }

    /// An element's computed CSS value, e.g. to prove a stylesheet applied.
    pub async fn css_value(&self, element: &Element, property: &str) -> anyhow::Result<String> {
        let path = format!("/element/{}/css/{property}", element.0);
        string(self.command(Method::GET, &path, Value::Null).await?)
    }

    pub async fn page_source(&self) -> anyhow::Result<String> {
        string(self.command(Method::GET, "/source", Value::Null).await?)
    }

    /// The viewport as PNG bytes.
    pub async fn screenshot_png(&self) -> anyhow::Result<Vec<u8>> {
        let encoded = string(
            self.command(Method::GET, "/screenshot", Value::Null)
                .await?,
        )?;
        STANDARD
            .decode(encoded)
            .context("decoding the screenshot's base64")
    }

    pub async fn set_window_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.command(
            Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await?;
        Ok(())
    }

    /// Makes `prefers-color-scheme` report dark (or light) to the pages, by
    /// a Chrome DevTools command that chromedriver passes through.
    pub async fn prefer_dark(&self, dark: bool) -> anyhow::Result<()> {
        let scheme = if dark { "dark" } else { "light" };
        self.command(
            Method::POST,
            "/goog/cdp/execute",
            json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": scheme }] },
            }),
        )
        .await?;
        Ok(())
    }

    /// A command on this session; `Value::Null` sends no body.
    async fn command(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        self.request(method, url, (!body.is_null()).then_some(body))
            .await
    }

    async fn request(
        &self,
        method: Method,
        url: String,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .with_context(|| format!("{method} {url}: {status}, not JSON"))?;
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "{method} {url}: {status}: {}: {}",
                value["error"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or("?")
            );
        }
        Ok(value)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Synchronous on purpose: Drop cannot await, and a raw HTTP/1.1
        // DELETE on loopback needs no runtime. Ending the session closes
        // chromium cleanly; the group kill below is the fallback.
        if !self.session.is_empty() {
            let _ = delete_session(self.driver, &self.session);
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.chromedriver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

fn delete_session(driver: SocketAddr, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&driver, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {driver}\r\nConnection: close\r\n\r\n"
    )?;
    // Wait for the whole answer (chromedriver sends it once chromium has
    // quit), but not for the connection to close: it keeps it open.
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        reply.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Ok(());
            }
        }
    }
}

fn string(value: Value) -> anyhow::Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => bail!("expected a string, got {other}"),
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn read_log(logs: &TempDir) -> String {
    let log = std::fs::read_to_string(logs.path().join("chromedriver.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// `target/screenshots/<name>.png` (or under `$CARGO_TARGET_DIR`), after
/// checking that the bytes are a PNG.
pub fn save_screenshot(name: &str, png: &[u8]) -> PathBuf {
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{name}: not a PNG ({} bytes)",
        png.len()
    );
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The workspace's target directory, beside this crate's.
            let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target")
        })
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

const SIGN_IN: &str = "/oauth/sign-in?client_id=abc&state=x%20y";
const CSRF: &str = "csrf-token-1";

/// The pages as the OAuth handlers would serve them, with fixed inputs; the
/// sign-in POST echoes what the browser submitted.
fn pages_router() -> Router {
    Router::new()
        .route(
            "/oauth/sign-in",
            get(|| async {
                Html(pages::sign_in(&SignIn {
                    action: SIGN_IN,
                    csrf: CSRF,
                    email: None,
                    error: None,
                    client_name: Some("Claude Desktop"),
                    signup_open: false,
                }))
            })
            .post(
                |Query(query): Query<HashMap<String, String>>,
                 Form(form): Form<HashMap<String, String>>| async move {
                    let field = |name: &str| form.get(name).map_or("", String::as_str);
                    let echo = format!(
                        "email={} password-chars={} csrf-ok={} client_id={} state={}",
                        field("email"),
                        field("password").chars().count(),
                        field("csrf") == CSRF,
                        query.get("client_id").map_or("", String::as_str),
                        query.get("state").map_or("", String::as_str),
                    );
                    Html(pages::error(&ErrorPage {
                        title: "Submitted",
                        message: &echo,
                    }))
                },
            ),
        )
        .route(
            "/oauth/sign-in-error",
            get(|| async {
                Html(pages::sign_in(&SignIn {
                    action: SIGN_IN,
                    csrf: CSRF,
                    email: Some("ada@example.com"),
                    error: Some("That email and password do not match an account."),
                    client_name: None,
                    signup_open: true,
                }))
            }),
        )
        .route(
            "/oauth/consent",
            get(|| async {
                Html(pages::consent(&Consent {
                    action: "/oauth/consent?request=r1",
                    csrf: CSRF,
                    client_name: "Claude Desktop",
                    redirect_host: "claude.ai",
                    scopes: &[
                        ScopeLine {
                            name: "rules:read",
                            description: "See your alert rules, alerts and silences",
                        },
                        ScopeLine {
                            name: "rules:write",
                            description: "Create, change and delete alert rules",
                        },
                    ],
                    user_email: "ada@example.com",
                    client_verified: false,
                }))
            }),
        )
        .route(
            "/oauth/account",
            get(|| async {
                Html(pages::account(&Account {
                    csrf: CSRF,
                    email: "ada@example.com",
                    connections: &[
                        ConnectionLine {
                            id: "c1",
                            client_name: "Claude Desktop",
                            scopes: "rules:read rules:write",
                            connected_at: "2026-03-01 12:00 UTC",
                            last_used: Some("2026-03-02 08:15 UTC"),
                        },
                        ConnectionLine {
                            id: "c2",
                            client_name: "Cursor",
                            scopes: "rules:read",
                            connected_at: "2026-03-03 09:00 UTC",
                            last_used: None,
                        },
                    ],
                    revoke_action: "/oauth/account/revoke",
                }))
            }),
        )
        .route(
            STYLESHEET_PATH,
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLESHEET,
                )
            }),
        )
}

#[tokio::test]
async fn chromium_fills_and_submits_the_sign_in_page() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, pages_router()).await });

    let browser = Browser::start().await.unwrap();

    browser.goto(&format!("{site}{SIGN_IN}")).await.unwrap();
    let source = browser.page_source().await.unwrap();
    assert!(source.contains("Sign in to connect"), "{source}");
    // The stylesheet was fetched from its path and applied: the card is
    // 26rem wide at most.
    let main = browser.find_css("main").await.unwrap();
    assert_eq!(
        browser.css_value(&main, "max-width").await.unwrap(),
        "416px"
    );
    save_screenshot("sign-in", &browser.screenshot_png().await.unwrap());

    let email = browser.find_css("input#email").await.unwrap();
    browser.send_keys(&email, "ada@example.com").await.unwrap();
    let password = browser.find_css("input#password").await.unwrap();
    browser
        .send_keys(&password, "correct horse battery")
        .await
        .unwrap();
    let submit = browser.find_css("button[type=submit]").await.unwrap();
    browser.click(&submit).await.unwrap();

    let echoed = within("the echo page", Duration::from_secs(10), async || {
        let source = browser
            .page_source()
            .await
            .map_err(|error| format!("{error:#}"))?;
        if source.contains("email=") {
            Ok(source)
        } else {
            Err(source)
        }
    })
    .await;
    assert!(
        echoed.contains(
            "email=ada@example.com password-chars=21 csrf-ok=true client_id=abc state=x y"
        ),
        "{echoed}"
    );
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{site}{SIGN_IN}")
    );

    browser
        .goto(&format!("{site}/oauth/sign-in-error"))
        .await
        .unwrap();
    save_screenshot("sign-in-error", &browser.screenshot_png().await.unwrap());
    browser
        .goto(&format!("{site}/oauth/consent"))
        .await
        .unwrap();
    save_screenshot("consent", &browser.screenshot_png().await.unwrap());
    browser
        .goto(&format!("{site}/oauth/account"))
        .await
        .unwrap();
    save_screenshot("account", &browser.screenshot_png().await.unwrap());

    // The same pages in dark mode, and on a phone-sized window.
    browser.prefer_dark(true).await.unwrap();
    save_screenshot("account-dark", &browser.screenshot_png().await.unwrap());
    browser
        .goto(&format!("{site}/oauth/consent"))
        .await
        .unwrap();
    save_screenshot("consent-dark", &browser.screenshot_png().await.unwrap());
    browser.prefer_dark(false).await.unwrap();
    browser.set_window_size(390, 844).await.unwrap();
    browser
        .goto(&format!("{site}/oauth/account"))
        .await
        .unwrap();
    let path = save_screenshot("account-narrow", &browser.screenshot_png().await.unwrap());
    eprintln!(
        "webdriver: screenshots in {}",
        path.parent().unwrap().display()
    );
}
