//! The gateway's Prometheus metrics, one registry per process
//! (`shared_models::metrics` says why), served on their own listen address
//! when `metrics_listen` is set. Labels stay few: tool names are the
//! router's (an unknown tool is never counted), outcomes and reasons are
//! fixed lists.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, response::IntoResponse, routing::get};
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use shared_models::metrics::{exposition, register};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::AuthError,
    error::{Error, Result},
    store::TokenRejection,
};

/// Upper bounds, in seconds, of one tool call: a listing from the database
/// takes a millisecond or two, a backtest against a slow InfluxDB up to the
/// request timeout.
const TOOL_CALL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How a tool call ended, as the `outcome` label and the span field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolOutcome {
    /// A result.
    Ok,
    /// A tool execution error (`isError: true`): a refused argument, a
    /// missing object, a dependency that did not answer.
    ToolError,
    /// A JSON-RPC error: a fault the client library sees, not the model.
    Error,
}

impl ToolOutcome {
    pub const ALL: [Self; 3] = [Self::Ok, Self::ToolError, Self::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Error => "error",
        }
    }
}

/// The `reason` label of a refused request.
const AUTH_REASONS: [&str; 6] = [
    "missing",
    "unknown",
    "expired",
    "revoked",
    "insufficient_scope",
    "unavailable",
];

fn auth_reason(error: &AuthError) -> &'static str {
    match error {
        AuthError::Missing => "missing",
        AuthError::Rejected(TokenRejection::Unknown) => "unknown",
        AuthError::Rejected(TokenRejection::Expired) => "expired",
        AuthError::Rejected(TokenRejection::Revoked) => "revoked",
        AuthError::InsufficientScope(_) => "insufficient_scope",
        AuthError::Unavailable => "unavailable",
    }
}

pub struct GatewayMetrics {
    registry: Registry,
    tool_calls: IntCounterVec,
    tool_call_seconds: HistogramVec,
    auth_failures: IntCounterVec,
    write_points: IntCounter,
    write_bytes: IntCounter,
}

impl GatewayMetrics {
    /// A fresh registry holding every gateway metric at zero.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| register(&registry, IntCounter::new(name, help));
        let auth_failures = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "monitors_gateway_auth_failures_total",
                    "Requests refused before reaching a tool or an endpoint, by reason.",
                ),
                &["reason"],
            ),
        )?;
        // Exported from the start, so a rate over one reads 0, not nothing.
        for reason in AUTH_REASONS {
            auth_failures.with_label_values(&[reason]);
        }
        Ok(Self {
            tool_calls: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "monitors_gateway_tool_calls_total",
                        "MCP tool calls, by tool and outcome (ok, tool_error, error).",
                    ),
                    &["tool", "outcome"],
                ),
            )?,
            tool_call_seconds: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "monitors_gateway_tool_call_seconds",
                        "Time to answer one MCP tool call, by tool.",
                    )
                    .buckets(TOOL_CALL_BUCKETS.to_vec()),
                    &["tool"],
                ),
            )?,
            auth_failures,
            write_points: counter(
                "monitors_gateway_write_points_total",
                "Points stored through the line-protocol write endpoints.",
            )?,
            write_bytes: counter(
                "monitors_gateway_write_bytes_total",
                "Request body bytes (as sent, compressed or not) of writes whose points were stored.",
            )?,
            registry,
        })
    }

    /// Exports the series of `tool` at zero, before its first call.
    pub fn expect_tool(&self, tool: &str) {
        for outcome in ToolOutcome::ALL {
            self.tool_calls.with_label_values(&[tool, outcome.as_str()]);
        }
        self.tool_call_seconds.with_label_values(&[tool]);
    }

    /// One call of `tool`, answered in `took`.
    pub fn tool_call(&self, tool: &str, outcome: ToolOutcome, took: Duration) {
        self.tool_calls
            .with_label_values(&[tool, outcome.as_str()])
            .inc();
        self.tool_call_seconds
            .with_label_values(&[tool])
            .observe(took.as_secs_f64());
    }

    /// One request refused for `error`.
    pub fn auth_failure(&self, error: &AuthError) {
        self.auth_failures
            .with_label_values(&[auth_reason(error)])
            .inc();
    }

    /// One write that stored `points` from a body of `bytes`.
    pub fn write(&self, points: u64, bytes: usize) {
        self.write_points.inc_by(points);
        self.write_bytes.inc_by(bytes as u64);
    }
}

/// `/metrics`, on its own listener: never behind the user-facing port's
/// authentication, timeouts or body limits, and reachable only where the
/// operator binds it.
pub struct MetricsListener {
    listener: TcpListener,
    metrics: Arc<GatewayMetrics>,
}

impl MetricsListener {
    /// Binds `listen`, when set: the endpoint is off unless configured.
    pub async fn bind(
        listen: Option<SocketAddr>,
        metrics: &Arc<GatewayMetrics>,
    ) -> Result<Option<Self>> {
        let Some(listen) = listen else {
            return Ok(None);
        };
        let listener = TcpListener::bind(listen)
            .await
            .map_err(Error::io(format!("binding the metrics listener {listen}")))?;
        Ok(Some(Self {
            listener,
            metrics: metrics.clone(),
        }))
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(Error::io("reading the metrics listener address"))
    }

    /// Serves until `shutdown` fires and the scrapes in flight are answered.
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<()> {
        tracing::info!(addr = %self.local_addr()?, "serving metrics");
        let metrics = self.metrics;
        let router = Router::new().route(
            "/metrics",
            get(move || async move { exposition(&metrics.registry).into_response() }),
        );
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(Error::io("serving metrics"))
    }
}
