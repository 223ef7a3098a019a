//! A real InfluxDB 1.x for the tests: one `influxd` per test binary, on free
//! loopback ports, in a temporary directory, stopped and removed when the
//! binary exits. Each test takes a database of its own.

use std::{
    fs,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use crate::testing::daemon::{Daemon, free_port, scratch_dir};

/// How long `influxd` gets to answer `/ping`.
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Influxd {
    url: String,
    http: reqwest::Client,
    _daemon: Daemon,
    databases: AtomicUsize,
}

/// The binary's `influxd`, started on first use.
pub fn influxd() -> &'static Influxd {
    static INFLUXD: OnceLock<Influxd> = OnceLock::new();
    INFLUXD.get_or_init(|| match start() {
        Ok(influxd) => influxd,
        Err(error) => panic!("could not start influxd: {error}"),
    })
}

impl Influxd {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A fresh, empty database.
    pub async fn create_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        self.query("", &format!("CREATE DATABASE \"{name}\"")).await;
        name
    }

    /// Runs `q` against `db` through `POST /query`, and fails the test on
    /// any error.
    pub async fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let response = self
            .http
            .post(format!("{}/query", self.url))
            .form(&[("db", db), ("q", q)])
            .send()
            .await
            .expect("query influxd");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        assert!(status.is_success(), "{q}: HTTP {status}: {body}");
        let failed = body["results"]
            .as_array()
            .is_some_and(|results| results.iter().any(|r| r.get("error").is_some()));
        assert!(!failed, "{q}: {body}");
        body
    }

    /// Writes line protocol with millisecond timestamps.
    pub async fn write(&self, db: &str, lines: &str) {
        let response = self
            .http
            // Test database names need no URL encoding.
            .post(format!("{}/write?db={db}&precision=ms", self.url))
            .body(lines.to_owned())
            .send()
            .await
            .expect("write to influxd");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "write: HTTP {status}: {body}\n{lines}");
    }
}

/// Escapes a measurement name for line protocol.
pub fn lp_measurement(raw: &str) -> String {
    escape(raw, &[',', ' '])
}

/// Escapes a tag key, tag value or field key for line protocol. InfluxDB
/// 1.x takes any other backslash literally.
pub fn lp_key(raw: &str) -> String {
    escape(raw, &[',', '=', ' '])
}

fn escape(raw: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        assert!(c != '\n', "line protocol cannot carry a newline in {raw:?}");
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn start() -> Result<Influxd, String> {
    // Another process may take a port between our probe and influxd's bind.
    let mut last = String::new();
    for _ in 0..5 {
        match start_once() {
            Ok(influxd) => return Ok(influxd),
            Err(error) => last = error,
        }
    }
    Err(last)
}

fn start_once() -> Result<Influxd, String> {
    let dir = scratch_dir("influxd-test-")?;
    let http_port = free_port()?;
    let rpc_port = free_port()?;
    let config = dir.join("influxd.conf");
    fs::write(&config, config_text(&dir, http_port, rpc_port))
        .map_err(|e| format!("write {}: {e}", config.display()))?;
    let binary = std::env::var("INFLUXD").unwrap_or_else(|_| "influxd".to_owned());
    let daemon = Daemon::start(
        "influxd",
        dir,
        &binary,
        vec!["-config".to_owned(), config.to_string_lossy().into_owned()],
        START_DEADLINE,
        || ping(http_port),
    )?;
    Ok(Influxd {
        url: format!("http://127.0.0.1:{http_port}"),
        // The server outlives each test's runtime, and a pooled connection
        // would die with the runtime that opened it ("runtime dropped the
        // dispatch task" in the next test): no idle connections are kept.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?,
        _daemon: daemon,
        databases: AtomicUsize::new(0),
    })
}

fn config_text(dir: &Path, http_port: u16, rpc_port: u16) -> String {
    let path = |sub: &str| -> String {
        let path: PathBuf = dir.join(sub);
        // A JSON string is a valid TOML basic string.
        serde_json::to_string(&path.to_string_lossy()).unwrap_or_default()
    };
    format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = {meta}

[data]
  dir = {data}
  wal-dir = {wal}
  query-log-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[admin]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[[udp]]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"#,
        meta = path("meta"),
        data = path("data"),
        wal = path("wal"),
    )
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    head[..read].starts_with(b"HTTP/1.1 204") || head[..read].starts_with(b"HTTP/1.0 204")
}
