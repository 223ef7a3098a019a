//! A server a test starts for itself (InfluxDB, MariaDB, Redis): in its own
//! temporary directory, on free loopback ports, logging to a file there.
//! It is killed and its directory removed when the test binary exits,
//! however it exits: a watchdog shell holds a pipe from the binary, which
//! the kernel closes on any exit, so its `read` returns even after a kill -9
//! of the test. It can be paused, resumed and restarted in place, as a
//! short outage would.

use std::{
    fs::{self, File},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Reads the pid from the directory on each wake, so that it kills the
/// server's latest incarnation after a restart.
const WATCHDOG: &str = r#"read -r _ || true
pid=$(cat "$1/daemon.pid" 2>/dev/null)
if [ -n "$pid" ]; then
  kill -CONT "$pid" 2>/dev/null
  kill "$pid" 2>/dev/null
  tail --pid="$pid" -f /dev/null 2>/dev/null
fi
rm -rf "$1""#;

pub struct Daemon {
    name: String,
    program: String,
    args: Vec<String>,
    dir: PathBuf,
    child: Child,
    watchdog: Child,
}

/// A loopback port nobody listens on at the moment of asking. Another
/// process may take it before the server binds it; callers retry.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("free port: {e}"))
}

/// A fresh temporary directory that outlives its handle: the watchdog
/// removes it once the server has stopped.
pub fn scratch_dir(prefix: &str) -> Result<PathBuf, String> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?
        .keep())
}

impl Daemon {
    /// Runs `program args…` with `dir` as its working directory and
    /// `dir/<name>.log` as its output, and waits up to `deadline` for
    /// `ready` to hold. On failure the server is stopped, its directory
    /// removed, and the error carries its log.
    pub fn start(
        name: &str,
        dir: PathBuf,
        program: &str,
        args: Vec<String>,
        deadline: Duration,
        ready: impl FnMut() -> bool,
    ) -> Result<Self, String> {
        let child = spawn(name, &dir, program, &args).inspect_err(|_| {
            let _ = fs::remove_dir_all(&dir);
        })?;
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "sh"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let watchdog = match watchdog {
            Ok(watchdog) => watchdog,
            Err(error) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                let _ = fs::remove_dir_all(&dir);
                return Err(format!("watchdog: {error}"));
            }
        };
        let mut daemon = Self {
            name: name.to_owned(),
            program: program.to_owned(),
            args,
            dir,
            child,
            watchdog,
        };
        daemon.wait_ready(deadline, ready)?;
        Ok(daemon)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, …).
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal, &self.name);
    }

    /// kill -9, then the same command again on the same directory (and so
    /// the same ports and data), waiting for `ready` as at the start.
    pub fn restart(
        &mut self,
        deadline: Duration,
        ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.name, &self.dir, &self.program, &self.args)?;
        self.wait_ready(deadline, ready)
    }

    /// Polls `ready` until it holds, the server exits, or `deadline`
    /// passes.
    fn wait_ready(
        &mut self,
        deadline: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let until = Instant::now() + deadline;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status}\n--- its log ---\n{}",
                    self.name,
                    self.log()
                ));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(format!(
                    "{} was not ready within {deadline:?}\n--- its log ---\n{}",
                    self.name,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Sends `signal` to process `pid` (named `what` in the failure) with
/// kill(1), failing the test if it cannot be delivered.
pub fn send_signal(pid: u32, signal: &str, what: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {what}: {status}");
}

fn spawn(name: &str, dir: &Path, program: &str, args: &[String]) -> Result<Child, String> {
    let log_path = dir.join(format!("{name}.log"));
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("log file {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("run {program}: {e}"))?;
    fs::write(dir.join("daemon.pid"), child.id().to_string())
        .map_err(|e| format!("pid file: {e}"))?;
    Ok(child)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}
