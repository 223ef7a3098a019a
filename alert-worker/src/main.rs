use std::{path::PathBuf, process::ExitCode, sync::Arc};

use alert_worker::{
    config::WorkerConfig,
    engine::{Engine, EngineSettings, RuleScope},
    error::{Error, chain},
    http::MetricsServer,
    metrics::WorkerMetrics,
    notify::dispatch::Dispatcher,
    source::build_source,
    telemetry,
};
use clap::{Parser, Subcommand};
use migrations::{Migrator, MigratorTrait};
use shared_models::time::SystemClock;
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
    /// Load the rules once and print how many this worker would evaluate.
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = match WorkerConfig::load(cli.config.clone(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("alert-worker: {}", chain(&error));
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, std::io::stderr);
    match run(cli.command.unwrap_or(Command::Run), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("alert-worker: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: WorkerConfig) -> Result<(), Error> {
    let db = shared_models::db::connect(config.database_url.expose(), 8).await?;
    if config.auto_migrate {
        Migrator::up(&db, None).await?;
    }
    let source = build_source(&config.sources, &db)?;
    let clock = Arc::new(SystemClock);
    let metrics = Arc::new(WorkerMetrics::new()?);
    let dispatcher = Arc::new(
        Dispatcher::from_config(db.clone(), &config.notify, clock.clone())?
            .with_metrics(metrics.clone()),
    );
    let mut engine = Engine::new(
        db.clone(),
        source,
        clock,
        RuleScope::All,
        EngineSettings::default(),
    )
    .with_outbox_signal(dispatcher.wake_signal())
    .with_metrics(metrics.clone());
    match command {
        Command::Status => {
            let report = engine.refresh().await?;
            println!("rules to evaluate: {}", report.total);
            Ok(())
        }
        Command::Run => {
            // Bound before anything runs: a taken port is a start error.
            let probes = MetricsServer::build(config.metrics_listen, None, db, metrics).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            tracing::info!("evaluating rules and delivering notifications");
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
            // Deliveries in flight finish (each within the send timeout).
            if let Err(error) = delivering.await {
                tracing::error!(error = %error, "notification dispatcher failed");
            }
            if let Err(error) = serving.await {
                tracing::error!(error = %error, "metrics server failed");
            }
            Ok(())
        }
    }
}

/// SIGTERM or Ctrl-C: finish the evaluation in flight, then stop.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        () = terminate => {},
    }
    shutdown.cancel();
}
