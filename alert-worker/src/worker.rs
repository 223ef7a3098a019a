//! The worker as one value: built once ([`Worker::build`] for a fleet
//! member, [`Worker::embedded`] for the gateway's in-process evaluator),
//! then run until its cancellation token fires, every task on one tracker
//! and every one of them finished before [`Worker::run_until_stopped`]
//! returns.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared_models::{changes, crypto::Keyring, keys::open_keyring, shutdown::Tasks, time::Clock};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{MAX_WORKER_ID_LEN, WorkerConfig},
    engine::{Engine, EngineSettings, RuleScope},
    error::{Result, chain},
    fleet::{Fleet, FleetSettings},
    http::MetricsServer,
    metrics::WorkerMetrics,
    notify::{
        dispatch::{DispatchSettings, Dispatcher},
        send::Sender,
    },
    source::{MetricSource, build_source},
};

/// A rule evaluator and notification dispatcher, with, for a fleet member,
/// its shard leases, its probes and its change listener.
pub struct Worker {
    engine: Engine,
    dispatcher: Arc<Dispatcher>,
    member: Option<Member>,
}

/// What a fleet member runs besides the engine and the dispatcher.
struct Member {
    id: String,
    fleet: Fleet,
    probes: MetricsServer,
    /// Where rule changes are announced, when Redis is configured.
    redis_url: Option<String>,
}

impl Worker {
    /// The fleet member `alert-worker run` is: its keyring checked against
    /// the database, its source, its shard leases, and its probes bound (a
    /// taken port is a start error). The database must be migrated.
    pub async fn build(
        config: &WorkerConfig,
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        // Before anything runs: a process that could not open what the
        // others seal refuses to start, naming the key it lacks.
        let keyring = Arc::new(open_keyring(&config.notify, &db).await?);
        let source = build_source(&config.sources, &db)?;
        let metrics = Arc::new(WorkerMetrics::new()?);
        let dispatcher = Arc::new(
            Dispatcher::from_config(db.clone(), &config.notify, keyring, clock.clone())?
                .with_metrics(metrics.clone()),
        );
        let id = config.worker_id.clone().unwrap_or_else(default_worker_id);
        let fleet = Fleet::new(
            db.clone(),
            id.clone(),
            clock.clone(),
            FleetSettings {
                shard_count: config.shard_count,
                lease_ttl: config.lease_ttl,
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
        let probes = MetricsServer::build(config.metrics_listen, None, db, metrics)
            .await?
            .with_fleet(fleet.ownership(), clock);
        Ok(Self {
            engine,
            dispatcher,
            member: Some(Member {
                id,
                fleet,
                probes,
                redis_url: config
                    .changes
                    .redis_url
                    .as_ref()
                    .map(|u| u.expose().clone()),
            }),
        })
    }

    /// The gateway's in-process evaluator (the one-command setup): every
    /// rule, no leases, no probes; the gateway's own writes refresh it.
    pub fn embedded(
        db: DatabaseConnection,
        source: Arc<dyn MetricSource>,
        sender: Arc<Sender>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        dispatch: DispatchSettings,
    ) -> Self {
        let dispatcher = Arc::new(Dispatcher::new(
            db.clone(),
            sender,
            keyring,
            clock.clone(),
            dispatch,
        ));
        let engine = Engine::new(db, source, clock, RuleScope::All, EngineSettings::default())
            .with_outbox_signal(dispatcher.wake_signal());
        Self {
            engine,
            dispatcher,
            member: None,
        }
    }

    /// Evaluates and delivers until `shutdown`, then waits for every task:
    /// the evaluation in flight commits under its leases before they are
    /// released, and deliveries in flight finish (each within the send
    /// timeout).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        let Self {
            engine,
            dispatcher,
            member,
        } = self;
        let tasks = Tasks::new();
        // The fleet outlives the engine: released once the engine is done,
        // however it ends.
        let leaving = CancellationToken::new();
        if let Some(member) = member {
            tracing::info!(worker = %member.id, "evaluating rules and delivering notifications");
            tasks.spawn("fleet membership", member.fleet.run(leaving.clone()));
            if let Some(url) = member.redis_url {
                tasks.spawn(
                    "rule change listener",
                    changes::listen(url, engine.refresh_signal(), shutdown.clone()),
                );
            }
            let stop = shutdown.clone();
            tasks.spawn("metrics server", async move {
                if let Err(error) = member.probes.run_until(stop).await {
                    tracing::error!(error = %chain(&error), "metrics server failed");
                }
            });
        }
        tasks.spawn("notification dispatcher", dispatcher.run(shutdown.clone()));
        let leave = leaving.drop_guard();
        tasks.spawn("rule evaluation", async move {
            engine.run(shutdown).await;
            drop(leave);
        });
        tasks.wait().await;
    }
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
