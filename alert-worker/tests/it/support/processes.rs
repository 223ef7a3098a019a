//! `alert-worker run` as real processes sharing one database, as an
//! orchestrator runs them: each with its own metrics port and log file,
//! signalled as a crash, a stall or a scale-down would, and killed when the
//! test ends. When a test fails, the logs are kept and their tails printed.

use std::{
    collections::BTreeSet,
    fs::{self, File},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
    time::Duration,
};

use alert_worker::testing::{daemon::send_signal, within};

/// What every worker of one fleet is started with.
#[derive(Debug, Clone)]
pub struct FleetEnv {
    pub database_url: String,
    /// The key channel secrets are sealed with (base64).
    pub encryption_key: String,
    pub lease_ttl: Duration,
    pub shard_count: u32,
    /// Where rule changes are announced, with the periodic resync put a
    /// minute away so that only an announcement can be heard in time.
    pub redis_url: Option<String>,
}

/// One `alert-worker run` process.
pub struct Worker {
    pub id: String,
    child: Child,
    log: PathBuf,
    metrics: SocketAddr,
}

impl Worker {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal, &self.id);
    }

    /// kill -9, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed worker is reaped");
    }

    /// The local ports of the worker's TCP connections, from /proc: the
    /// database names a client connection by its address and port, so this
    /// tells the worker's sessions from the others'.
    pub fn local_ports(&self) -> BTreeSet<u16> {
        let sockets: BTreeSet<String> = fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| {
                dir.filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
                    .filter_map(|target| {
                        let target = target.to_str()?;
                        Some(
                            target
                                .strip_prefix("socket:[")?
                                .strip_suffix(']')?
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut ports = BTreeSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = fs::read_to_string(table).unwrap_or_default();
            // sl local_address rem_address st ... uid timeout inode
            for columns in text
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
            {
                if columns.get(9).is_some_and(|inode| sockets.contains(*inode))
                    && let Some(port) = columns[1]
                        .rsplit(':')
                        .next()
                        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
                {
                    ports.insert(port);
                }
            }
        }
        ports
    }

    /// A URL on the worker's metrics and health port.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics)
    }

    /// `/readyz`: its status and body.
    pub async fn readiness(&self) -> (reqwest::StatusCode, serde_json::Value) {
        let response = reqwest::get(self.url("/readyz"))
            .await
            .unwrap_or_else(|e| panic!("readiness of {}: {e}", self.id));
        let status = response.status();
        (status, response.json().await.unwrap_or_default())
    }

    /// Waits up to `limit` for the process to exit, and returns how.
    pub async fn exited(&mut self, limit: Duration) -> ExitStatus {
        let id = self.id.clone();
        within(&format!("{id} exits"), limit, async || {
            self.child
                .try_wait()
                .unwrap()
                .ok_or_else(|| "still running".to_owned())
        })
        .await
    }

    /// The value of an unlabelled sample in the worker's `/metrics`.
    pub async fn sample(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap_or_else(|e| panic!("scraping {}: {e}", self.id))
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {}'s metrics:\n{text}", self.id))
    }

    /// The address the worker bound for its metrics, from its JSON log.
    async fn metrics_addr(child: &mut Child, id: &str, log: &Path) -> SocketAddr {
        within(
            &format!("{id} serves its metrics"),
            Duration::from_secs(30),
            async || {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "{id} exited ({status}) before serving; its log:\n{}",
                        fs::read_to_string(log).unwrap_or_default()
                    );
                }
                let text = fs::read_to_string(log).unwrap_or_default();
                text.lines()
                    .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                    .find(|entry| entry["fields"]["message"] == "serving metrics and health")
                    .and_then(|entry| entry["fields"]["addr"].as_str()?.parse().ok())
                    .ok_or_else(|| format!("{} log lines", text.lines().count()))
            },
        )
        .await
    }
}

/// The fleet's processes and their logs. Dropping it kills every worker.
pub struct Processes {
    env: FleetEnv,
    /// The workers' working directory, holding their logs.
    dir: Option<tempfile::TempDir>,
    workers: Vec<Worker>,
}

impl Processes {
    pub fn new(env: FleetEnv) -> Self {
        Self {
            env,
            dir: Some(
                tempfile::Builder::new()
                    .prefix("fleet-processes-")
                    .tempdir()
                    .unwrap(),
            ),
            workers: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("kept until drop").path()
    }

    /// Starts a worker named `id` and waits until it serves its metrics.
    pub async fn start(&mut self, id: &str) -> &Worker {
        let log = self.dir().join(format!("{id}.log"));
        let file = File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_alert-worker"))
            .arg("run")
            .current_dir(self.dir())
            .env_clear()
            .env("MONITORS_DATABASE_URL", &self.env.database_url)
            // The test migrates once; workers starting together would race.
            .env("MONITORS_AUTO_MIGRATE", "false")
            .env("MONITORS_WORKER_ID", id)
            .env(
                "MONITORS_LEASE_TTL",
                format!("{}ms", self.env.lease_ttl.as_millis()),
            )
            .env("MONITORS_SHARD_COUNT", self.env.shard_count.to_string())
            .env("MONITORS_ENCRYPTION_KEY", &self.env.encryption_key)
            .env("MONITORS_EGRESS_ALLOWLIST", "127.0.0.1/32")
            .envs(self.env.redis_url.iter().flat_map(|url| {
                [
                    ("MONITORS_REDIS_URL", url.as_str()),
                    ("MONITORS_RESYNC_EVERY", "60s"),
                ]
            }))
            .env("MONITORS_METRICS_LISTEN", "127.0.0.1:0")
            .env("MONITORS_LOG_FORMAT", "json")
            // Each evaluation's size and duration, for diagnosis.
            .env(
                "MONITORS_LOG",
                "info,alert_worker=debug,sqlx=warn,sea_orm=warn",
            )
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the worker binary starts");
        let metrics = Worker::metrics_addr(&mut child, id, &log).await;
        self.workers.push(Worker {
            id: id.to_owned(),
            child,
            log,
            metrics,
        });
        self.workers.last().unwrap()
    }

    pub fn worker(&self, id: &str) -> &Worker {
        self.workers
            .iter()
            .find(|w| w.id == id)
            .unwrap_or_else(|| panic!("no worker {id}"))
    }

    pub fn worker_mut(&mut self, id: &str) -> &mut Worker {
        self.workers
            .iter_mut()
            .find(|w| w.id == id)
            .unwrap_or_else(|| panic!("no worker {id}"))
    }

    /// The sum of an unlabelled sample over the workers `ids`.
    pub async fn sum(&self, ids: &[&str], name: &str) -> f64 {
        let mut total = 0.0;
        for id in ids {
            total += self.worker(id).sample(name).await;
        }
        total
    }

    /// The lines of `id`'s log whose message is `message`.
    pub fn log_lines(&self, id: &str, message: &str) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.worker(id).log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry["fields"]["message"] == message)
            .collect()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            // SIGKILL reaches stopped processes too.
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("worker logs kept in {}", kept.display());
            for worker in &self.workers {
                let text = fs::read_to_string(&worker.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- last lines of {} ---", worker.id);
                for line in &lines[lines.len().saturating_sub(25)..] {
                    eprintln!("{line}");
                }
            }
        }
    }
}
