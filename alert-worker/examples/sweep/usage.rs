//! What a step costs: wall time, and CPU time read from `/proc` for this
//! process, its SQLite threads and the private `influxd`.

use std::{
    fmt,
    time::{Duration, Instant},
};

/// (part of the process), and the private `influxd` if there is one.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
    pub sqlite_cpu: Duration,
    pub influxd_cpu: Option<Duration>,
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wall {:.3?}, CPU: this process {:.2?} (SQLite threads {:.2?})",
            self.wall, self.cpu, self.sqlite_cpu
        )?;
        if let Some(influxd) = self.influxd_cpu {
            write!(f, ", influxd {influxd:.2?}")?;
        }
        Ok(())
    }
}

pub async fn measure<T>(step: impl Future<Output = T>) -> (T, Cost) {
    let before = Usage::now();
    let started = Instant::now();
    let out = step.await;
    let wall = started.elapsed();
    let after = Usage::now();
    let cost = Cost {
        wall,
        cpu: after.process.saturating_sub(before.process),
        sqlite_cpu: after.sqlite.saturating_sub(before.sqlite),
        influxd_cpu: after
            .influxd
            .zip(before.influxd)
            .map(|(a, b)| a.saturating_sub(b)),
    };
    (out, cost)
}

struct Usage {
    process: Duration,
    sqlite: Duration,
    influxd: Option<Duration>,
}

impl Usage {
    /// From `/proc` (Linux); zero where it cannot be read.
    fn now() -> Self {
        let sqlite = std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
            .filter(|stat| command(stat).starts_with("sqlx-sqlite"))
            .map(|stat| cpu_of(&stat))
            .sum();
        Self {
            process: std::fs::read_to_string("/proc/self/stat")
                .map_or(Duration::ZERO, |s| cpu_of(&s)),
            sqlite,
            influxd: influxd_stat().map(|stat| cpu_of(&stat)),
        }
    }
}

/// The `stat` line of the `influxd` this process started, if any.
fn influxd_stat() -> Option<String> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .find(|stat| command(stat) == "influxd")
}

/// The command name of a `stat` line, between the first `(` and the last `)`.
fn command(stat: &str) -> &str {
    let start = stat.find('(').map_or(0, |i| i + 1);
    let end = stat.rfind(')').unwrap_or(stat.len());
    stat.get(start..end).unwrap_or_default()
}

/// utime + stime of a `stat` line: the 14th and 15th fields, in clock ticks
/// of 10 ms (USER_HZ is 100 on Linux).
fn cpu_of(stat: &str) -> Duration {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "load average unknown".to_owned(),
        |l| {
            let parts: Vec<&str> = l.split_whitespace().take(3).collect();
            format!("load average {}", parts.join(" "))
        },
    )
}
