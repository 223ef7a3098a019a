//! Fleet throughput: rules evaluated per second by 1, 2 and 4 real
//! `alert-worker run` processes sharing one MariaDB database and a private
//! InfluxDB 1.x, each rule due every second, so that a fleet that cannot
//! keep up shows it as fewer evaluations than rules per second.
//!
//! ```text
//! cargo build --release -p alert-worker --bin alert-worker --example fleet_throughput
//! target/release/examples/fleet_throughput [--rules 20000] [--series 2000] [--workers 1,2,4] [--seconds 20]
//! ```
//!
//! Per worker count: fresh workers start, the example waits until every
//! shard is leased, lets one warm-up window pass, then reads each worker's
//! `monitors_worker_evaluations_total` at the start and the end of a window.
//! MariaDB at `MONITORS_TEST_MYSQL_URL` (default root@127.0.0.1:3306) and
//! `influxd` on PATH are required. It prints figures and records nothing.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alert_worker::testing::{Backend, TestDb, influxd, insert_user};
use anyhow::{Context, Result, bail};
use clap::Parser;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ColumnTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;
use shared_models::{
    entity::{alert_rule, shard_lease},
    ids::RuleId,
    rule::{RuleInput, RuleLimits, RuleSpec},
    shard::Shard,
    time::Timestamp,
};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    rules: usize,
    #[arg(long, default_value_t = 2_000)]
    series: usize,
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// The measured window per worker count.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

struct Worker {
    child: Child,
    metrics: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("alert-worker"))
        .filter(|path| path.exists())
        .context("build the alert-worker binary in the same profile first")?;
    let influx = influxd::influxd();
    let database = influx.create_database().await;
    let mut lines = String::new();
    let now_ms = chrono::Utc::now().timestamp_millis();
    for s in 0..args.series {
        lines.push_str(&format!(
            "crypto,symbol=S{s} price={} {now_ms}\n",
            100 + s % 7
        ));
    }
    influx.write(&database, &lines).await;

    let (test_db, url) = TestDb::create(Backend::MariaDb).await;
    let db = Database::connect(url.as_str()).await?;
    Migrator::up(&db, None).await?;
    insert_rules(&db, &args).await?;
    println!(
        "{} rules over {} series, each due every 1 s; {} cores; window {} s",
        args.rules,
        args.series,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.seconds
    );
    let key = shared_models::crypto::Keyring::generate_key()?;
    for &count in &args.workers {
        let workers: Vec<Worker> = (0..count)
            .map(|i| spawn(&binary, &url, influx.url(), &database, &key, i))
            .collect::<Result<_>>()?;
        wait_all_leased(&db).await?;
        let warm = Duration::from_secs(args.seconds.min(10));
        tokio::time::sleep(warm).await;
        let before = total(&workers).await?;
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let after = total(&workers).await?;
        let rate = (after - before) / started.elapsed().as_secs_f64();
        println!(
            "{count} worker(s): {rate:.0} rule evaluations/s ({:.2} of the {} due per second)",
            rate / args.rules as f64,
            args.rules
        );
        drop(workers);
        wait_none_leased(&db).await?;
    }
    drop(test_db);
    Ok(())
}

fn spawn(
    binary: &PathBuf,
    db_url: &str,
    influx_url: &str,
    database: &str,
    key: &str,
    index: usize,
) -> Result<Worker> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(binary)
        .arg("run")
        .env_clear()
        .env("MONITORS_DATABASE_URL", db_url)
        .env("MONITORS_INFLUX_URL", influx_url)
        .env("MONITORS_INFLUX_DATABASE", database)
        .env("MONITORS_ENCRYPTION_KEY", key)
        .env("MONITORS_LEASE_TTL", "6s")
        .env("MONITORS_WORKER_ID", format!("bench-{index}"))
        .env("MONITORS_METRICS_LISTEN", format!("127.0.0.1:{port}"))
        .env("MONITORS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Worker {
        child,
        metrics: format!("http://127.0.0.1:{port}/metrics"),
    })
}

/// The fleet's evaluations so far, summed over its workers.
async fn total(workers: &[Worker]) -> Result<f64> {
    let client = reqwest::Client::new();
    let mut sum = 0.0;
    for worker in workers {
        let text = client.get(&worker.metrics).send().await?.text().await?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("monitors_worker_evaluations_total "))
            .context("the evaluations counter")?;
        sum += value.trim().parse::<f64>()?;
    }
    Ok(sum)
}

async fn wait_all_leased(db: &DatabaseConnection) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let leased = shard_lease::Entity::find()
            .filter(shard_lease::Column::WorkerId.is_not_null())
            .filter(shard_lease::Column::ExpiresAt.gt(now))
            .count(db)
            .await?;
        if leased == 256 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {leased} of 256 shards leased after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_none_leased(db: &DatabaseConnection) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let leased = shard_lease::Entity::find()
            .filter(shard_lease::Column::WorkerId.is_not_null())
            .filter(shard_lease::Column::ExpiresAt.gt(now))
            .count(db)
            .await?;
        if leased == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{leased} shards still leased 30 s after the workers stopped");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn insert_rules(db: &DatabaseConnection, args: &Args) -> Result<()> {
    let owner = insert_user(db, "bench@example.com").await?;
    let limits = RuleLimits {
        min_interval: shared_models::rule::HumanDuration::from_secs(1),
        ..RuleLimits::default()
    };
    let mut rows = Vec::with_capacity(args.rules);
    for i in 0..args.rules {
        let input: RuleInput = serde_json::from_value(json!({
            "name": format!("rule {i}"),
            "metric": {"measurement": "crypto", "field": "price",
                       "tags": {"symbol": format!("S{}", i % args.series)}, "window": "5m"},
            "condition": {"op": ">", "threshold": 1_000_000},
            "interval": "1s",
        }))?;
        let spec = RuleSpec::parse(input, &limits).map_err(|e| anyhow::anyhow!("{e}"))?;
        let id = RuleId::generate();
        rows.push(alert_rule::ActiveModel {
            id: Set(id),
            owner_id: Set(owner),
            name: Set(spec.name.as_str().to_owned()),
            enabled: Set(true),
            severity: Set(spec.severity),
            interval_ms: Set(1_000),
            shard: Set(Shard::of(&id, 256)),
            spec: Set(spec.clone()),
            version: Set(1),
            created_at: Set(Timestamp::EPOCH),
            updated_at: Set(Timestamp::EPOCH),
        });
    }
    for chunk in rows.chunks(1_000) {
        alert_rule::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}
