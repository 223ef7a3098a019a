//! The worker's metrics and health port over real HTTP on a real SQLite
//! database: the probes answer, `/metrics` reads as Prometheus text, the
//! engine's and dispatcher's recordings show in it, and `alert-worker run`
//! serves it beside the engine until SIGTERM.

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/processes.rs"]
mod processes;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use alert_worker::{
    error::Error,
    fleet::{Fleet, FleetSettings, Ownership},
    http::MetricsServer,
    metrics::WorkerMetrics,
    notify::{
        dispatch::{DispatchSettings, Dispatcher},
        send::Sender,
    },
    testing::within,
};
use fixture::{fixture, t};
use migrations::{Migrator, MigratorTrait};
use processes::{FleetEnv, Processes};
use reqwest::StatusCode;
use sea_orm::{Database, DatabaseConnection};
use serde_json::json;
use shared_models::{config::NotifySettings, crypto::Keyring, ids::ChannelId, time::Clock};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Every metric a worker exports, with its Prometheus type.
const FAMILIES: &[(&str, &str)] = &[
    ("monitors_worker_rules", "gauge"),
    ("monitors_worker_owned_shards", "gauge"),
    ("monitors_worker_evaluations_total", "counter"),
    ("monitors_worker_evaluation_seconds", "histogram"),
    ("monitors_worker_query_batches_total", "counter"),
    ("monitors_worker_queries_total", "counter"),
    ("monitors_worker_alerts_fired_total", "counter"),
    ("monitors_worker_alerts_resolved_total", "counter"),
    ("monitors_worker_notifications_total", "counter"),
    ("monitors_worker_notifications_unopenable_total", "counter"),
    ("monitors_worker_lease_claims_total", "counter"),
    ("monitors_worker_lease_losses_total", "counter"),
    ("monitors_worker_lease_renew_failures_total", "counter"),
];

/// A metrics server on an ephemeral port, stopped by its token.
struct Served {
    base: String,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), Error>>,
}

async fn serve(db: DatabaseConnection, metrics: Arc<WorkerMetrics>) -> Served {
    serve_in_fleet(db, metrics, None).await
}

async fn serve_in_fleet(
    db: DatabaseConnection,
    metrics: Arc<WorkerMetrics>,
    fleet: Option<(Ownership, Arc<dyn Clock>)>,
) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = MetricsServer::build(addr, Some(listener), db, metrics)
        .await
        .unwrap();
    if let Some((ownership, clock)) = fleet {
        server = server.with_fleet(ownership, clock);
    }
    assert_eq!(server.local_addr().unwrap(), addr);
    let shutdown = CancellationToken::new();
    Served {
        base: format!("http://{addr}"),
        task: tokio::spawn(server.run_until(shutdown.clone())),
        shutdown,
    }
}

impl Served {
    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base)).await.unwrap()
    }

    /// `/metrics`, checked as Prometheus text and read into its samples.
    async fn scrape(&self) -> Samples {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4"
        );
        parse_exposition(&response.text().await.unwrap())
    }

    /// Cancels the token and waits, with a deadline, for serving to end.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops on its token")
            .unwrap()
            .unwrap();
    }
}

/// Samples by series as written (`name{label="value"}`), and the declared
/// type of each family.
struct Samples {
    values: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Samples {
    fn value(&self, series: &str) -> f64 {
        *self
            .values
            .get(series)
            .unwrap_or_else(|| panic!("{series} not exported; have {:?}", self.values.keys()))
    }
}

/// Reads the text exposition format strictly enough to catch a malformed
/// scrape: every line is a HELP or TYPE comment or a sample; names and
/// label names are valid; values are numbers; each sample belongs to a
/// family whose TYPE came before it; no series appears twice.
fn parse_exposition(text: &str) -> Samples {
    let valid_name = |name: &str| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut values = BTreeMap::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (keyword, name) = (words.next().unwrap(), words.next().unwrap_or_default());
            assert!(valid_name(name), "metric name in {line:?}");
            match keyword {
                "HELP" => {}
                "TYPE" => {
                    let kind = words.next().unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "type in {line:?}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "{name} typed twice"
                    );
                }
                _ => panic!("unexpected comment {line:?}"),
            }
            continue;
        }
        assert!(!line.is_empty(), "blank line in the exposition");
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(valid_name(name), "sample name in {line:?}");
        let (series, rest) = if line[name_end..].starts_with('{') {
            let close = line
                .find('}')
                .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            for pair in line[name_end + 1..close]
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let (label, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("label pair in {line:?}"));
                assert!(valid_name(label), "label name in {line:?}");
                assert!(
                    value.len() >= 2 && value.starts_with('"') && value.ends_with('"'),
                    "quoted label value in {line:?}"
                );
            }
            (&line[..=close], &line[close + 1..])
        } else {
            (name, &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("numeric value in {line:?}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} sampled before its TYPE");
        assert!(
            values.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    Samples { values, types }
}

#[tokio::test]
async fn probes_answer_and_every_metric_is_exported_as_prometheus_text() {
    let f = fixture().await;
    let served = serve(f.db.clone(), Arc::new(WorkerMetrics::new().unwrap())).await;

    let health = served.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = served.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );

    let samples = served.scrape().await;
    let declared: BTreeSet<(&str, &str)> = samples
        .types
        .iter()
        .map(|(name, kind)| (name.as_str(), kind.as_str()))
        .collect();
    assert_eq!(declared, FAMILIES.iter().copied().collect());
    for outcome in ["delivered", "retry", "failed"] {
        let series = format!("monitors_worker_notifications_total{{outcome=\"{outcome}\"}}");
        assert_eq!(samples.value(&series), 0.0);
    }
    assert_eq!(
        samples.value("monitors_worker_evaluation_seconds_bucket{le=\"+Inf\"}"),
        0.0
    );
    served.stop().await;
}

#[tokio::test]
async fn an_evaluation_that_fires_and_its_notification_move_their_metrics() {
    let f = fixture().await;
    let metrics = Arc::new(WorkerMetrics::new().unwrap());
    let served = serve(f.db.clone(), metrics.clone()).await;
    // The channel is gone by the time the dispatcher opens it: a failed
    // delivery, without a receiver.
    f.rule(json!({"channels": [ChannelId::generate().to_string()]}))
        .await;
    let mut engine = f.engine().with_metrics(metrics.clone());
    engine.refresh().await.unwrap();
    let before = served.scrape().await;
    assert_eq!(before.value("monitors_worker_rules"), 1.0);
    assert_eq!(before.value("monitors_worker_alerts_fired_total"), 0.0);

    f.point("BTC", t(9), 70_500.0).await;
    let report = engine.evaluate_due(t(15)).await.unwrap();
    assert_eq!(report.persisted.fired, 1);
    assert_eq!(report.persisted.notifications_queued, 1);
    let after = served.scrape().await;
    for (series, moved) in [
        ("monitors_worker_alerts_fired_total", 1.0),
        ("monitors_worker_alerts_resolved_total", 0.0),
        ("monitors_worker_evaluations_total", 1.0),
        ("monitors_worker_evaluation_seconds_count", 1.0),
        ("monitors_worker_query_batches_total", 1.0),
        ("monitors_worker_queries_total", report.queries as f64),
    ] {
        assert_eq!(
            after.value(series) - before.value(series),
            moved,
            "{series}"
        );
    }
    assert!(after.value("monitors_worker_evaluation_seconds_sum") > 0.0);

    let settings = NotifySettings::default();
    let dispatcher = Arc::new(
        Dispatcher::new(
            f.db.clone(),
            Arc::new(Sender::from_config(&settings).unwrap()),
            Arc::new(Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap()),
            f.clock.clone(),
            DispatchSettings::from_config(&settings),
        )
        .with_metrics(metrics),
    );
    f.clock.set_millis(t(15));
    assert_eq!(dispatcher.dispatch_all_due().await.unwrap().failed, 1);
    let delivered = served.scrape().await;
    for (outcome, count) in [("delivered", 0.0), ("retry", 0.0), ("failed", 1.0)] {
        let series = format!("monitors_worker_notifications_total{{outcome=\"{outcome}\"}}");
        assert_eq!(delivered.value(&series), count, "{series}");
    }
    served.stop().await;
}

#[tokio::test]
async fn readyz_answers_503_once_the_database_is_unreachable() {
    let f = fixture().await;
    let served = serve(f.db.clone(), Arc::new(WorkerMetrics::new().unwrap())).await;
    assert_eq!(served.get("/readyz").await.status(), StatusCode::OK);

    f.db.close_by_ref().await.unwrap();
    let ready = served.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    // Alive all the same, and still scraped.
    assert_eq!(served.get("/healthz").await.status(), StatusCode::OK);
    served.scrape().await;
    served.stop().await;
}

#[tokio::test]
async fn readyz_reports_the_workers_standing_in_the_fleet() {
    let f = fixture().await;
    let fleet = Fleet::new(
        f.db.clone(),
        "w1".to_owned(),
        f.clock.clone(),
        FleetSettings {
            shard_count: 16,
            lease_ttl: Duration::from_secs(3),
            host: "test".into(),
        },
    );
    let served = serve_in_fleet(
        f.db.clone(),
        Arc::new(WorkerMetrics::new().unwrap()),
        Some((fleet.ownership(), f.clock.clone())),
    )
    .await;
    let readiness = async || {
        let response = served.get("/readyz").await;
        let status = response.status();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };

    let (status, body) = readiness().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "joining the fleet");

    fleet.round().await.unwrap();
    let (status, body) = readiness().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["shards"], 16);

    // A round is due every second; none succeeds for the whole TTL, as
    // when the database is cut off: the leases lapse, and readiness says so
    // without waiting on the database.
    f.clock.set_millis(t(3) - 1);
    assert_eq!(readiness().await.0, StatusCode::OK);
    f.clock.set_millis(t(3));
    let (status, body) = readiness().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "leases lapsed");
    assert_eq!(body["last_lease_round_ms_ago"], 3_000);

    // A round that fails does not restore it; one that succeeds does.
    f.db.close_by_ref().await.unwrap();
    fleet.round().await.unwrap_err();
    assert_eq!(readiness().await.1["reason"], "leases lapsed");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_process_serves_probes_beside_the_engine_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/monitors.db?mode=rwc", dir.path().display());
    let db = Database::connect(&database_url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let mut processes = Processes::new(FleetEnv {
        database_url,
        encryption_key: Keyring::generate_key().unwrap(),
        lease_ttl: Duration::from_secs(3),
        shard_count: 16,
        redis_url: None,
    });
    let worker = processes.start("w1").await;
    assert_eq!(
        reqwest::get(worker.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    // Ready once its first lease round has gone through.
    let body = within(
        "w1 is ready",
        Duration::from_secs(10),
        async || match worker.readiness().await {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => Err(format!("{status} {body}")),
        },
    )
    .await;
    assert_eq!(body["shards"], 16, "a lone worker holds every shard");
    let metrics = reqwest::get(worker.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_exposition(&metrics);
    assert_eq!(samples.types.len(), FAMILIES.len(), "{metrics}");
    assert_eq!(samples.value("monitors_worker_owned_shards"), 16.0);

    let healthz = worker.url("/healthz");
    worker.signal("TERM");
    let status = processes
        .worker_mut("w1")
        .exited(Duration::from_secs(30))
        .await;
    assert!(status.success(), "{status}");
    assert!(
        reqwest::get(healthz).await.is_err(),
        "the port is closed once the worker has stopped"
    );
}
