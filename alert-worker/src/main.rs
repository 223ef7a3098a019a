use std::{path::PathBuf, process::ExitCode, sync::Arc};

use alert_worker::{
    config::{MAX_WORKER_ID_LEN, WorkerConfig},
    engine::{Engine, EngineSettings, RuleScope},
    error::{Error, chain},
    fleet::{self, Fleet, FleetSettings},
    http::MetricsServer,
    metrics::WorkerMetrics,
    notify::dispatch::Dispatcher,
    source::build_source,
};
use clap::{Parser, Subcommand};
use migrations::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use shared_models::{
    changes,
    config::ConfigSource,
    keys::open_keyring,
    shutdown::stop_on_signal,
    telemetry,
    time::{Clock, SystemClock},
};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "alert-worker",
    version,
    about = "monitors-mcp: evaluates alert rules"
)]
struct Cli {
    /// TOML configuration file (also MONITORS_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate rules until stopped (the default).
    Run,
    /// Print the fleet's members and the shards no one holds (reads only;
    /// needs no encryption key).
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match WorkerConfig::load(&ConfigSource::from_process(cli.config.clone())) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("alert-worker: {}", chain(&error));
            return ExitCode::from(2);
        }
    };
    telemetry::init_stderr(config.log_format);
    match run(cli.command.unwrap_or(Command::Run), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("alert-worker: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: WorkerConfig) -> Result<(), Error> {
    let db =
        shared_models::db::connect(config.database_url.expose(), config.db_max_connections).await?;
    if config.auto_migrate {
        Migrator::up(&db, None).await?;
    }
    match command {
        Command::Status => status(&db).await,
        Command::Run => evaluate(config, db).await,
    }
}

/// `alert-worker run`: evaluates its shards' rules and delivers
/// notifications until stopped.
async fn evaluate(config: WorkerConfig, db: DatabaseConnection) -> Result<(), Error> {
    // Before anything runs: a process that could not open what the others
    // seal refuses to start, naming the key it lacks.
    let keyring = Arc::new(open_keyring(&config.notify, &db).await?);
    let source = build_source(&config.sources, &db)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(WorkerMetrics::new()?);
    let dispatcher = Arc::new(
        Dispatcher::from_config(db.clone(), &config.notify, keyring, clock.clone())?
            .with_metrics(metrics.clone()),
    );
    let worker_id = config.worker_id.clone().unwrap_or_else(default_worker_id);
    let fleet = Fleet::new(
        db.clone(),
        worker_id.clone(),
        clock.clone(),
        FleetSettings {
            shard_count: config.shard_count,
            lease_ttl: config.lease_ttl.as_duration(),
            host: hostname(),
        },
    )
    .with_metrics(metrics.clone());
    let engine = Engine::new(
        db.clone(),
        source,
        clock.clone(),
        RuleScope::Fleet(fleet.ownership()),
        EngineSettings {
            refresh_every: config.changes.refresh_every(),
            ..EngineSettings::default()
        },
    )
    .with_outbox_signal(dispatcher.wake_signal())
    .with_metrics(metrics.clone());
    let fleet = fleet.with_claimed_signal(engine.refresh_signal());
    // Bound before anything runs: a taken port is a start error.
    let probes = MetricsServer::build(config.metrics_listen, None, db, metrics)
        .await?
        .with_fleet(fleet.ownership(), clock);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    tracing::info!(worker = %worker_id, "evaluating rules and delivering notifications");
    // The fleet outlives the engine: the evaluation in flight commits
    // under its leases before they are released.
    let leaving = CancellationToken::new();
    let leasing = tokio::spawn(fleet.run(leaving.clone()));
    if let Some(url) = &config.changes.redis_url {
        tokio::spawn(changes::listen(
            url.expose().clone(),
            engine.refresh_signal(),
            shutdown.clone(),
        ));
    }
    let serving = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Err(error) = probes.run_until(shutdown).await {
                tracing::error!(error = %chain(&error), "metrics server failed");
            }
        }
    });
    let delivering = tokio::spawn(dispatcher.run(shutdown.clone()));
    engine.run(shutdown).await;
    leaving.cancel();
    if let Err(error) = leasing.await {
        tracing::error!(error = %error, "fleet membership failed");
    }
    // Deliveries in flight finish (each within the send timeout).
    if let Err(error) = delivering.await {
        tracing::error!(error = %error, "notification dispatcher failed");
    }
    if let Err(error) = serving.await {
        tracing::error!(error = %error, "metrics server failed");
    }
    Ok(())
}

/// `alert-worker status`: reads the fleet's tables, and nothing else.
async fn status(db: &DatabaseConnection) -> Result<(), Error> {
    let now = SystemClock.now_millis();
    for member in fleet::members(db, now).await? {
        println!(
            "{}  host {}  heartbeat {} ms ago  shards {}",
            member.worker_id, member.host, member.heartbeat_age_ms, member.shards
        );
    }
    let unowned = fleet::unowned_shards(db, now).await?;
    println!("shards without a current lease: {unowned}");
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The host name and a random suffix: a restarted process is a new member,
/// so it never mistakes its predecessor's leases for its own.
fn default_worker_id() -> String {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let suffix = &suffix[suffix.len() - 8..];
    let host: String = hostname()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .take(MAX_WORKER_ID_LEN - suffix.len() - 1)
        .collect();
    format!("{host}-{suffix}")
}
