//! The worker's own HTTP port, apart from any user traffic: `/metrics` for
//! Prometheus, `/healthz` and `/readyz` for the orchestrator. Building binds
//! (or takes) the listener, so tests serve on port 0; running serves until
//! the shutdown token fires.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use shared_models::{metrics::exposition, time::Clock};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    error::{Error, Result, chain},
    fleet::{Ownership, Standing},
    metrics::WorkerMetrics,
};

/// A database slower than this to answer counts as unavailable: probes
/// time out on their own after a second or so, and an answer late is no
/// better than none.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Probes {
    db: DatabaseConnection,
    metrics: Arc<WorkerMetrics>,
    fleet: Option<(Ownership, Arc<dyn Clock>)>,
}

pub struct MetricsServer {
    listener: TcpListener,
    probes: Probes,
}

impl MetricsServer {
    /// Binds `listen` unless a listener is given.
    pub async fn build(
        listen: SocketAddr,
        listener: Option<TcpListener>,
        db: DatabaseConnection,
        metrics: Arc<WorkerMetrics>,
    ) -> Result<Self> {
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(listen)
                .await
                .map_err(|source| Error::Io {
                    context: format!("binding the metrics listener {listen}"),
                    source,
                })?,
        };
        Ok(Self {
            listener,
            probes: Probes {
                db,
                metrics,
                fleet: None,
            },
        })
    }

    /// Readiness then also asks that this worker stands in the fleet: a
    /// worker whose leases have lapsed evaluates nothing, and says so.
    pub fn with_fleet(mut self, ownership: Ownership, clock: Arc<dyn Clock>) -> Self {
        self.probes.fleet = Some((ownership, clock));
        self
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Io {
            context: "reading the metrics listener address".to_owned(),
            source,
        })
    }

    /// Serves until `shutdown` fires and the requests in flight are answered.
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<()> {
        tracing::info!(addr = %self.local_addr()?, "serving metrics and health");
        axum::serve(self.listener, router(self.probes))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| Error::Io {
                context: "serving metrics and health".to_owned(),
                source,
            })
    }
}

fn router(probes: Probes) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(probes)
}

async fn metrics_text(State(probes): State<Probes>) -> Response {
    exposition(probes.metrics.registry()).into_response()
}

/// Alive: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready: in the fleet's good standing (when in a fleet), and the database
/// answers a trivial query in time. Standing is read first: it needs no
/// I/O, so a worker cut off from its database says why at once.
async fn readyz(State(probes): State<Probes>) -> Response {
    let shards = match &probes.fleet {
        None => None,
        Some((ownership, clock)) => match ownership.standing(clock.now()) {
            Standing::Member { shards } => Some(shards),
            Standing::Joining => return unavailable("joining the fleet", json!({})),
            Standing::Lapsed { since_ms } => {
                return unavailable(
                    "leases lapsed",
                    json!({"last_lease_round_ms_ago": since_ms}),
                );
            }
        },
    };
    match tokio::time::timeout(READY_TIMEOUT, probes.db.ping()).await {
        Ok(Ok(())) => {
            let mut body = json!({"status": "ready"});
            if let Some(shards) = shards {
                body["shards"] = json!(shards);
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %chain(&error), "readiness check failed: database unreachable");
            unavailable("database unreachable", json!({}))
        }
        Err(_) => {
            tracing::warn!("readiness check failed: no database answer within {READY_TIMEOUT:?}");
            unavailable("database unreachable", json!({}))
        }
    }
}

fn unavailable(reason: &str, mut detail: serde_json::Value) -> Response {
    detail["status"] = json!("unavailable");
    detail["reason"] = json!(reason);
    (StatusCode::SERVICE_UNAVAILABLE, Json(detail)).into_response()
}
