use std::{path::PathBuf, process::ExitCode, sync::Arc};

use alert_worker::{Error, Worker, WorkerConfig};
use clap::{Parser, Subcommand};
use migrations::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use shared_models::{
    chain,
    config::ConfigSource,
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
    let worker = Worker::build(&config, db, Arc::new(SystemClock)).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    worker.run_until_stopped(shutdown).await;
    Ok(())
}

/// `alert-worker status`: reads the fleet's tables, and nothing else.
async fn status(db: &DatabaseConnection) -> Result<(), Error> {
    let now = SystemClock.now();
    for member in alert_worker::members(db, now).await? {
        println!(
            "{}  host {}  heartbeat {} ms ago  shards {}",
            member.worker_id, member.host, member.heartbeat_age_ms, member.shards
        );
    }
    let unowned = alert_worker::unowned_shards(db, now).await?;
    println!("shards without a current lease: {unowned}");
    Ok(())
}
