//! The worker's own HTTP port, apart from any user traffic: `/metrics` for
//! Prometheus, `/healthz` and `/readyz` for the orchestrator. Building binds
//! (or takes) the listener, so tests serve on port 0; running serves until
//! the shutdown token fires.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    error::{Error, Result, chain},
    metrics::{CONTENT_TYPE, WorkerMetrics},
};

/// A database slower than this to answer counts as unavailable: probes
/// time out on their own after a second or so, and an answer late is no
/// better than none.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Probes {
    db: DatabaseConnection,
    metrics: Arc<WorkerMetrics>,
}

pub struct MetricsServer {
    listener: TcpListener,
    router: Router,
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
            router: router(db, metrics),
        })
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
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(|source| Error::Io {
                context: "serving metrics and health".to_owned(),
                source,
            })
    }
}

fn router(db: DatabaseConnection, metrics: Arc<WorkerMetrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Probes { db, metrics })
}

async fn metrics_text(State(probes): State<Probes>) -> Response {
    match probes.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(error = %chain(&error), "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Alive: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready: the database answers a trivial query in time.
async fn readyz(State(probes): State<Probes>) -> impl IntoResponse {
    let reason = match tokio::time::timeout(READY_TIMEOUT, probes.db.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(Err(error)) => chain(&error),
        Err(_) => format!("no answer within {READY_TIMEOUT:?}"),
    };
    tracing::warn!(reason, "readiness check failed: database unreachable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "reason": "database unreachable"})),
    )
}
