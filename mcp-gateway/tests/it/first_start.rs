//! The real binary, run as a user would: the one-command default in an
//! empty directory with no configuration but a free port, the public URL it
//! derives from the address it listens on, and a kill -9 in the middle of a
//! pending timer.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{
    evaluation::{fires_on_the_original_timer, pending_for_two_seconds, rule, write_price_to},
    support::{McpClient, minimal_rule},
};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary and collects its output lines until `done` says enough.
fn start(dir: &std::path::Path, port: u16) -> (Running, mpsc::Receiver<String>) {
    start_with(dir, port, &[])
}

fn start_with(
    dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> (Running, mpsc::Receiver<String>) {
    let listen = format!("127.0.0.1:{port}");
    let public_url = format!("http://{listen}");
    let mut all = vec![
        ("MONITORS_LISTEN", listen.as_str()),
        ("MONITORS_PUBLIC_URL", public_url.as_str()),
    ];
    all.extend_from_slice(env);
    run(dir, &all)
}

/// The binary in `dir` with no configuration but `env`.
fn run(dir: &std::path::Path, env: &[(&str, &str)]) -> (Running, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway binary starts");
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (Running(child), rx)
}

/// Collects output until a line containing each marker has been seen
/// (stdout and stderr arrive in no fixed order relative to each other).
fn lines_until(rx: &mpsc::Receiver<String>, markers: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        if markers.iter().all(|m| lines.iter().any(|l| l.contains(m))) {
            return lines;
        }
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    panic!("not every one of {markers:?} appeared within 60 s; saw {lines:#?}");
}

#[tokio::test]
async fn first_start_creates_data_admin_and_prints_the_connect_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (running, rx) = start(dir.path(), port);
    let lines = lines_until(&rx, &["serving", "claude mcp add"]);
    let output = lines.join("\n");
    assert!(output.contains("created user admin@localhost"), "{output}");
    let connect = lines
        .iter()
        .find(|l| l.contains("claude mcp add --transport http"))
        .unwrap_or_else(|| panic!("connect line printed: {output}"));
    let token = connect
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("token in the connect line")
        .to_owned();
    assert!(
        connect.contains(&format!("http://127.0.0.1:{port}/mcp")),
        "{connect}"
    );
    assert!(
        dir.path().join("data/monitors.db").exists(),
        "SQLite file in ./data/"
    );
    let key = std::fs::metadata(dir.path().join("data/encryption.key"))
        .expect("an encryption key generated into ./data/");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600,
        "readable by its owner only"
    );

    let client = McpClient::connect(&format!("http://127.0.0.1:{port}/mcp"), &token).await;
    let created = client
        .ok("create_alert_rule", minimal_rule("first start"))
        .await;
    drop(client);
    drop(running);

    // A second start finds the admin and prints no new token; data persists.
    let (_running, rx) = start(dir.path(), port);
    let mut output = lines_until(&rx, &["serving"]);
    let client = McpClient::connect(&format!("http://127.0.0.1:{port}/mcp"), &token).await;
    let fetched = client
        .ok("get_alert_rule", json!({"id": created["id"]}))
        .await;
    assert_eq!(fetched["name"], "first start");
    // Anything printed at start has been read by now.
    output.extend(rx.try_iter());
    let output = output.join("\n");
    assert!(
        !output.contains("mcpk_"),
        "no token printed on later starts: {output}"
    );
}

/// Without `MONITORS_PUBLIC_URL`, the URL is the address bound (here port
/// 0, so the port the system chose), and the connect line, the OAuth
/// metadata and the start log name the same one. Logs written to a pipe
/// carry no colour codes.
#[tokio::test]
async fn the_public_url_defaults_to_the_address_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, rx) = run(dir.path(), &[("MONITORS_LISTEN", "127.0.0.1:0")]);
    let lines = lines_until(&rx, &["serving", "claude mcp add"]);
    let output = lines.join("\n");
    assert!(
        !output.contains('\u{1b}'),
        "colour codes in a piped log:\n{output}"
    );
    let serving = lines.iter().find(|l| l.contains(" serving")).unwrap();
    let addr = serving
        .split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("address in {serving}"));
    assert!(!addr.ends_with(":0"), "{serving}");
    let mcp = format!("http://{addr}/mcp");
    assert!(serving.contains(&format!("mcp={mcp}")), "{serving}");
    let connect = lines.iter().find(|l| l.contains("claude mcp add")).unwrap();
    assert!(connect.contains(&format!(" {mcp} ")), "{connect}");

    let get = |path: String| async move {
        reqwest::get(path)
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let server = get(format!(
        "http://{addr}/.well-known/oauth-authorization-server"
    ))
    .await;
    assert_eq!(server["issuer"], format!("http://{addr}"));
    let resource = get(format!(
        "http://{addr}/.well-known/oauth-protected-resource/mcp"
    ))
    .await;
    assert_eq!(resource["resource"], mcp);
}

/// Listening on every interface names no address clients can use: the
/// gateway says what to set and stops, before it makes anything.
#[test]
fn a_wildcard_bind_without_a_public_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .current_dir(dir.path())
        .env_clear()
        .env("MONITORS_LISTEN", "0.0.0.0:0")
        .output()
        .expect("gateway binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "mcp-gateway: configuration public_url: MONITORS_PUBLIC_URL must be set when MONITORS_LISTEN binds every interface (0.0.0.0:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("such as https://mcp.example.com"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing made before refusing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_continues_the_pending_timer_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("http://{addr}/mcp");
    let env = [("MONITORS_MIN_INTERVAL", "1s")];
    let (running, rx) = start_with(dir.path(), port, &env);
    let lines = lines_until(&rx, &["serving", "claude mcp add"]);
    let token = lines
        .iter()
        .find_map(|l| {
            l.split("Bearer ")
                .nth(1)?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .expect("token printed");
    let client = McpClient::connect(&url, &token).await;
    write_price_to(&addr, &token, 71_000.0).await;
    let id = client
        .ok("create_alert_rule", rule(json!({"for": "6s"})))
        .await["id"]
        .clone();

    let since = pending_for_two_seconds(&client, &id).await;
    drop(client);
    drop(running); // SIGKILL: no graceful shutdown, nothing flushed on the way out.
    let restarted_at = chrono::Utc::now();

    let (_running, rx) = start_with(dir.path(), port, &env);
    lines_until(&rx, &["serving"]);
    let client = McpClient::connect(&url, &token).await;
    fires_on_the_original_timer(&client, since, restarted_at).await;
}
