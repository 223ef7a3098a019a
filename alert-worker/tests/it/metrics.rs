//! `alert-worker run` serving its metrics and health port beside the
//! engine until SIGTERM, as a real process on a real SQLite database.

use std::time::Duration;

use alert_worker::testing::{
    exposition::{FAMILIES, parse_exposition},
    within,
};
use migrations::{Migrator, MigratorTrait};
use reqwest::StatusCode;
use sea_orm::Database;
use shared_models::crypto::Keyring;

use crate::support::{
    one_at_a_time,
    processes::{FleetEnv, Processes},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_process_serves_probes_beside_the_engine_until_sigterm() {
    let _serial = one_at_a_time().await;
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
