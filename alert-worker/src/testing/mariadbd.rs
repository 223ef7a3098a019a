//! A private MariaDB server, for tests that take the database away from
//! the fleet (paused with SIGSTOP, killed and restarted) without touching
//! the machine's shared server. Its data directory is made fresh by
//! `mariadb-install-db`; root logs in over TCP without a password.

use std::{io::Read, net::TcpStream, process::Command, time::Duration};

use crate::testing::daemon::{Daemon, free_port, scratch_dir};

/// Crash recovery of a small data directory takes about a second.
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Mariadbd {
    port: u16,
    daemon: Daemon,
}

impl Mariadbd {
    pub fn start() -> Self {
        let dir = scratch_dir("mariadbd-test-").unwrap();
        let user = current_user();
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--user={user}"))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            installed.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let port = free_port().unwrap();
        let args = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", dir.join("data").display()),
            format!("--user={user}"),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--socket={}", dir.join("mariadbd.sock").display()),
            format!("--pid-file={}", dir.join("mariadbd.pid").display()),
            "--skip-log-bin".to_owned(),
            "--innodb-buffer-pool-size=64M".to_owned(),
        ];
        let daemon = Daemon::start("mariadbd", dir, "mariadbd", args, START_DEADLINE, || {
            greets(port)
        })
        .unwrap_or_else(|e| panic!("mariadbd: {e}"));
        Self { port, daemon }
    }

    /// The server's root URL, without a database.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Stops the server in its tracks: connections stay open, and nothing
    /// answers on them.
    pub fn pause(&self) {
        self.daemon.signal("STOP");
    }

    pub fn resume(&self) {
        self.daemon.signal("CONT");
    }

    /// kill -9 and start again on the same data and port: every connection
    /// is lost, and what was committed survives.
    pub fn crash_and_restart(&mut self) {
        let port = self.port;
        self.daemon
            .restart(START_DEADLINE, || greets(port))
            .unwrap_or_else(|e| panic!("mariadbd restart: {e}"));
    }
}

/// The server speaks first on a new connection: a greeting means it is up.
fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(1))
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
