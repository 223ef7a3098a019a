//! The worker's metrics and health port over real HTTP on a real SQLite
//! database: the probes answer, `/metrics` reads as Prometheus text, and the
//! engine's and dispatcher's recordings show in it. The process serving it
//! until SIGTERM is in `tests/it/metrics.rs`.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use crate::{
    error::Error,
    fleet::{Fleet, FleetSettings, Ownership},
    http::MetricsServer,
    metrics::WorkerMetrics,
    notify::{
        dispatch::{DispatchSettings, Dispatcher},
        send::Sender,
    },
    testing::{
        exposition::{FAMILIES, Samples, parse_exposition},
        fixture::{fixture, t, ts},
    },
};
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::json;
use shared_models::{config::NotifySettings, crypto::Keyring, ids::ChannelId, time::Clock};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

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
    let report = engine.evaluate_due(ts(15)).await.unwrap();
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
