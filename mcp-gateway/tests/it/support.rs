//! The test harness: a real gateway on port 0 over a fresh database (a
//! temporary SQLite file or a new MariaDB database), driven by rmcp's own
//! Streamable HTTP client.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::Utc;
use mcp_gateway::auth::scope::Scopes;
use mcp_gateway::{
    app::App,
    config::{Config, ConfigSource},
    store::{Email, Store},
};
use ring::rand::SystemRandom;
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, CallToolResult, ClientConfig},
    service::{RunningService, ServiceError, ServiceExt},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::Value;
use shared_models::{
    crypto::Keyring,
    ids::UserId,
    time::{Clock, ManualClock, SystemClock},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs each named scenario once on SQLite and once on MariaDB.
pub(crate) use alert_worker::on_both_backends;
use alert_worker::testing::within;
pub use alert_worker::testing::{Backend, TestDb};

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when `MONITORS_METRICS_LISTEN` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub store: Store,
    /// The clock the app runs on, unless it is a live app on the system clock.
    manual_clock: Option<Arc<ManualClock>>,
    pub database_url: String,
    /// The key channel secrets are sealed under (base64), so that replicas
    /// and the `keys` command can be given the same one.
    pub encryption_key: String,
    shutdown: CancellationToken,
    _db: Arc<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A test configuration: its own encryption key, so that no test writes a
/// key file into ./data, and notifications may reach receivers on loopback
/// (over plain http). `extra` overrides either.
pub fn test_config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut env = vec![
        ("MONITORS_DATABASE_URL".to_owned(), database_url.to_owned()),
        ("MONITORS_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("MONITORS_MIN_INTERVAL".to_owned(), "1s".to_owned()),
        ("MONITORS_BOOTSTRAP_ADMIN".to_owned(), "false".to_owned()),
        ("MONITORS_DB_MAX_CONNECTIONS".to_owned(), "4".to_owned()),
        ("MONITORS_EMBEDDED_WORKER".to_owned(), "false".to_owned()),
        (
            "MONITORS_ENCRYPTION_KEY".to_owned(),
            Keyring::generate_key().expect("random key"),
        ),
        (
            "MONITORS_EGRESS_ALLOWLIST".to_owned(),
            "127.0.0.1/32".to_owned(),
        ),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::load(&ConfigSource { file: None, env }).expect("test configuration is valid")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let (db, url) = TestDb::create(backend).await;
    spawn_on(Arc::new(db), url, extra, false).await
}

/// Another gateway replica on the same database.
pub async fn spawn_replica(of: &TestApp) -> TestApp {
    spawn_replica_with(of, &[]).await
}

/// Another replica with more configuration; it shares the first one's
/// encryption key unless `extra` names another.
pub async fn spawn_replica_with(of: &TestApp, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("MONITORS_ENCRYPTION_KEY", of.encryption_key.as_str())];
    env.extend_from_slice(extra);
    spawn_on(of._db.clone(), of.database_url.clone(), &env, false).await
}

/// A gateway on the system clock that evaluates rules in-process, as the
/// one-command setup does, with a 1 s interval floor.
pub async fn spawn_live_app(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let (db, url) = TestDb::create(backend).await;
    spawn_on(Arc::new(db), url, extra, true).await
}

/// A live replica on the same database: a restart, once the first is dropped.
pub async fn spawn_live_replica(of: &TestApp) -> TestApp {
    let key = [("MONITORS_ENCRYPTION_KEY", of.encryption_key.as_str())];
    spawn_on(of._db.clone(), of.database_url.clone(), &key, true).await
}

async fn spawn_on(db: Arc<TestDb>, url: String, extra: &[(&str, &str)], live: bool) -> TestApp {
    let mut extra = extra.to_vec();
    if live {
        extra.push(("MONITORS_EMBEDDED_WORKER", "true"));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    // The public URL is where the app really is: OAuth issues tokens for it.
    let public_url = format!("http://{}", listener.local_addr().expect("bound address"));
    if !extra.iter().any(|(k, _)| *k == "MONITORS_PUBLIC_URL") {
        extra.push(("MONITORS_PUBLIC_URL", &public_url));
    }
    let config = test_config(&url, &extra);
    let encryption_key = config
        .notify
        .encryption_key
        .as_ref()
        .expect("tests always set a key")
        .expose()
        .clone();
    let manual_clock = (!live).then(|| Arc::new(ManualClock::new(Utc::now())));
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(clock) => clock.clone(),
        None => Arc::new(SystemClock),
    };
    let app = App::build(config, Some(listener), clock)
        .await
        .expect("gateway builds");
    let addr = app.local_addr().expect("bound address");
    let metrics_addr = app.metrics_addr().expect("metrics address");
    let store = app.state.store.clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        metrics_addr,
        store,
        manual_clock,
        database_url: url,
        encryption_key,
        shutdown,
        _db: db,
    }
}

impl TestApp {
    pub fn clock(&self) -> &ManualClock {
        self.manual_clock
            .as_deref()
            .expect("a live app runs on the system clock")
    }

    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// A new user with one API token; returns the user and the token.
    pub async fn user_with_token(&self, email: &str) -> (UserId, String) {
        let user = self
            .store
            .create_user(&Email::parse(email).unwrap())
            .await
            .expect("create user");
        let (_, secret) = self
            .store
            .create_token(user.id, "test", Scopes::all(), None, &SystemRandom::new())
            .await
            .expect("create token");
        (user.id, secret.expose().clone())
    }

    pub async fn client(&self, token: &str) -> McpClient {
        McpClient::connect(&self.mcp_url(), token).await
    }

    /// A raw JSON-RPC POST to `/mcp`, for what an SDK client would not send.
    pub async fn post_raw(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(self.mcp_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .timeout(Duration::from_secs(30))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("HTTP request completes")
    }
}

pub struct McpClient {
    service: RunningService<RoleClient, ClientConfig>,
}

impl McpClient {
    pub async fn connect(url: &str, token: &str) -> Self {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
        );
        let service = ClientConfig::default()
            .serve(transport)
            .await
            .expect("MCP initialize");
        Self { service }
    }

    pub fn peer(&self) -> &RunningService<RoleClient, ClientConfig> {
        &self.service
    }

    pub async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let args = args
            .as_object()
            .cloned()
            .expect("tool arguments are an object");
        self.service
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
            .await
    }

    /// Calls a tool that must succeed and returns its structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|e| panic!("{tool} failed: {e}"));
        assert_eq!(
            result.is_error,
            Some(false),
            "{tool} returned a tool error: {result:?}"
        );
        result.structured_content.expect("structured content")
    }

    /// Calls a tool that must fail at the tool level; returns its message.
    pub async fn tool_error(&self, tool: &str, args: Value) -> String {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|e| panic!("{tool} failed: {e}"));
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should have failed: {result:?}"
        );
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Calls a tool whose arguments must be refused: a tool execution error
    /// (so that the model sees it) whose `_meta` names the field and reason.
    pub async fn refused(&self, tool: &str, args: Value) -> Refusal {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|e| panic!("{tool} should have been a tool error, got {e}"));
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should have failed: {result:?}"
        );
        assert!(result.structured_content.is_none(), "{result:?}");
        let message = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        let data = result
            .meta
            .as_ref()
            .and_then(|meta| meta.0.get("monitors-mcp/error").cloned());
        Refusal { message, data }
    }

    /// Calls a tool that must be refused with a JSON-RPC error; returns it.
    pub async fn rpc_error(&self, tool: &str, args: Value) -> rmcp::ErrorData {
        match self.call(tool, args).await {
            Err(ServiceError::McpError(error)) => error,
            other => panic!("{tool} should have been refused with a JSON-RPC error, got {other:?}"),
        }
    }
}

/// A tool call refused for its arguments: the text the model reads, and the
/// detail (`error`, `field`, `reason`) for programs.
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub data: Option<Value>,
}

/// What one run of the `mcp-gateway` binary did.
pub struct OperatorRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// Whether it left `./data/encryption.key` in its working directory.
    pub wrote_key_file: bool,
}

/// The real `mcp-gateway` binary run as an operator runs it: `args` in an
/// empty directory, with the app's database and `env` as its only
/// configuration, fed `stdin`.
pub fn run_operator(
    app: &TestApp,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> OperatorRun {
    use std::{
        io::Write,
        process::{Command, Stdio},
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("MONITORS_DATABASE_URL", &app.database_url)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mcp-gateway runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    let output = child.wait_with_output().expect("mcp-gateway finishes");
    OperatorRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        wrote_key_file: dir.path().join("data/encryption.key").exists(),
    }
}

/// A rule as create, update and get return it, less what belongs to the
/// call: a save's warnings and a get's word on evaluation.
pub fn stored(mut rule: Value) -> Value {
    if let Some(fields) = rule.as_object_mut() {
        fields.remove("warnings");
        fields.remove("not_evaluated");
    }
    rule
}

pub fn minimal_rule(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": "BTC"}},
        "condition": {"op": ">", "threshold": 70000},
        "interval": "10s"
    })
}

/// Polls `check` until it returns Some, failing after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    within(what, limit, async || {
        check().await.ok_or_else(|| "not yet".to_owned())
    })
    .await
}
