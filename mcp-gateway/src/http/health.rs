//! Liveness and readiness: the gateway's own `/healthz` and `/readyz`, and
//! InfluxDB's `/ping` and `/health`, which Telegraf and the InfluxDB client
//! libraries probe before they write.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{app::AppState, db, error::chain};

/// The InfluxDB version whose HTTP API the write endpoints follow: 1.8,
/// the release that serves both the 1.x API and the 2.x write API.
pub const INFLUXDB_API_VERSION: &str = "1.8.10";

/// Alive: the process answers.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready: the database answers too.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match db::ping(state.store.db()).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(error = %chain(&error), "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unreachable"})),
            )
        }
    }
}

/// `X-Influxdb-Version`, by which InfluxDB clients tell what they talk to.
pub fn influx_version_header() -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("x-influxdb-version"),
        HeaderValue::from_static(INFLUXDB_API_VERSION),
    )
}

#[derive(Debug, Default, Deserialize)]
struct PingParams {
    verbose: Option<String>,
}

/// InfluxDB's `GET`/`HEAD /ping`: 204 and the version header, or with
/// `verbose=true`, 200 and the version in JSON (for load balancers that
/// want a body). No token needed, as in InfluxDB.
pub async fn ping(RawQuery(query): RawQuery) -> Response {
    let verbose = serde_urlencoded::from_str::<PingParams>(query.as_deref().unwrap_or_default())
        .ok()
        .and_then(|p| p.verbose)
        .is_some_and(|v| matches!(v.as_str(), "true" | "1" | "t" | "T" | "TRUE" | "True"));
    if verbose {
        (
            StatusCode::OK,
            [influx_version_header()],
            Json(json!({"version": INFLUXDB_API_VERSION})),
        )
            .into_response()
    } else {
        (StatusCode::NO_CONTENT, [influx_version_header()]).into_response()
    }
}

/// InfluxDB 2's `GET /health`: `pass` with 200 while the database answers,
/// `fail` with 503 when it does not. `commit` names this product, since it
/// is not InfluxDB's.
pub async fn influx_health(State(state): State<AppState>) -> Response {
    let (status, check, message) = match db::ping(state.store.db()).await {
        Ok(()) => (StatusCode::OK, "pass", "ready for queries and writes"),
        Err(error) => {
            tracing::warn!(error = %chain(&error), "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "fail",
                "the database does not answer; writes cannot be stored",
            )
        }
    };
    let body = json!({
        "name": "influxdb",
        "message": message,
        "status": check,
        "checks": [],
        "version": INFLUXDB_API_VERSION,
        "commit": concat!("monitors-mcp ", env!("CARGO_PKG_VERSION")),
    });
    (status, [influx_version_header()], Json(body)).into_response()
}
