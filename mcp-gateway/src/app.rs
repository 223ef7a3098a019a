//! Building the service and running it are separate steps: `build` opens
//! the database and binds (or takes) a listener, `run_until_stopped` serves
//! until the cancellation token fires and in-flight requests finish.

use std::{collections::HashSet, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, http::StatusCode, middleware, routing::get};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use shared_models::{
    changes::ChangePublisher,
    keys::open_keyring,
    outbound,
    shutdown::{Tasks, every},
    time::Clock,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use alert_worker::{DispatchSettings, MetricSource, Sender, Worker, build_source};

use crate::{
    auth::{AuthError, Challenge, require_principal},
    bootstrap::{self, FirstStart},
    config::Config,
    db,
    error::{Error, Result, chain},
    http::{body_limit::refuse_declared_oversize, health, influx_query, write},
    mcp::MonitorsMcp,
    metrics::{GatewayMetrics, MetricsListener},
    oauth::{self, authority::Authority, clients::metadata_document::MetadataDocuments},
    store::Store,
};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Where rule values come from, for previews and metric discovery.
    pub source: Arc<dyn MetricSource>,
    /// Checks channel destinations at creation and sends test messages,
    /// under the same egress policy as the dispatcher.
    pub sender: Arc<Sender>,
    /// Issues and checks OAuth tokens.
    pub authority: Arc<Authority>,
    /// Tools whose calls need `alerts:write`.
    pub write_tools: Arc<HashSet<String>>,
    /// OAuth clients identified by the URL of their metadata document,
    /// fetched through the same egress guard as notifications.
    pub client_documents: Arc<MetadataDocuments>,
    pub metrics: Arc<GatewayMetrics>,
}

impl AppState {
    /// An authentication failure with the challenge pointing OAuth clients
    /// to this resource's metadata.
    pub fn challenge(&self, error: AuthError) -> Challenge {
        self.metrics.auth_failure(&error);
        Challenge {
            error,
            resource_metadata: format!(
                "{}/.well-known/oauth-protected-resource/mcp",
                self.config.public_url
            ),
        }
    }
}

pub struct App {
    listener: TcpListener,
    router: Router,
    /// Set when this start created the first user; the caller shows it once.
    pub first_start: Option<FirstStart>,
    pub state: AppState,
    /// The in-process rule evaluator and notification dispatcher, when
    /// `embedded_worker` is on.
    worker: Option<Worker>,
    /// `/metrics`, when `metrics_listen` is set.
    metrics_listener: Option<MetricsListener>,
}

impl App {
    /// Binds `config.listen` unless a listener is given, and opens the
    /// database (migrating it unless told not to).
    pub async fn build(
        mut config: Config,
        listener: Option<TcpListener>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        // First: the public URL names the address bound (port 0 included).
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(config.listen)
                .await
                .map_err(Error::io(format!("binding {}", config.listen)))?,
        };
        let bound = listener
            .local_addr()
            .map_err(Error::io("reading the listener address"))?;
        config.resolve_public_url(bound)?;
        let outbound = outbound::Client::from_settings(&config.notify)?;
        let sender = Arc::new(Sender::on(outbound.clone()));
        let connection = db::connect(&config).await?;
        if config.auto_migrate {
            db::migrate(&connection).await?;
        }
        // A gateway that could not open what the others seal refuses to
        // start, naming the key it lacks.
        let keyring = Arc::new(open_keyring(&config.notify, &connection).await?);
        let mut store = Store::new(
            connection,
            clock,
            config.rule_limits(),
            config.shard_count,
            keyring,
        );
        if let Some(url) = &config.changes.redis_url {
            store = store.with_changes(ChangePublisher::new(url.expose())?);
        }
        let first_start = if config.bootstrap_admin {
            bootstrap::first_start(&store).await?
        } else {
            None
        };
        if config.embedded_worker {
            store = store.evaluated_in_process();
        }
        let source = build_source(&config.sources, store.db())?;
        let worker = config.embedded_worker.then(|| {
            Worker::embedded(
                store.db().clone(),
                source.clone(),
                sender.clone(),
                store.keyring(),
                store.clock(),
                DispatchSettings::from_config(&config.notify),
            )
        });
        let authority = Authority::start(store.clone(), &config).await?;
        let client_documents = Arc::new(MetadataDocuments::new(outbound, store.clock()));
        let metrics = Arc::new(GatewayMetrics::new()?);
        let metrics_listener = MetricsListener::bind(config.metrics_listen, &metrics).await?;
        let state = AppState {
            store,
            config: Arc::new(config),
            source,
            sender,
            authority,
            write_tools: Arc::new(MonitorsMcp::write_tool_names()),
            client_documents,
            metrics,
        };
        Ok(Self {
            listener,
            router: router(state.clone()),
            first_start,
            state,
            worker,
            metrics_listener,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(Error::io("reading the listener address"))
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>> {
        self.metrics_listener
            .as_ref()
            .map(MetricsListener::local_addr)
            .transpose()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(%addr, mcp = %self.state.config.mcp_url(), "serving");
        // Background work stops when serving ends, however it ends.
        let stop_sweeping = shutdown.child_token();
        let tasks = Tasks::new();
        tasks.spawn(
            "points retention",
            sweep_points(
                self.state.store.clone(),
                self.state.config.points_retention,
                stop_sweeping.clone(),
            ),
        );
        tasks.spawn(
            "OAuth refresh",
            self.state.authority.clone().run(stop_sweeping.clone()),
        );
        tasks.spawn(
            "revocation listener",
            self.state.authority.clone().listen(
                self.state
                    .config
                    .changes
                    .redis_url
                    .as_ref()
                    .map(|u| u.expose().clone()),
                stop_sweeping.clone(),
            ),
        );
        if let Some(listener) = self.metrics_listener {
            let stop = stop_sweeping.clone();
            tasks.spawn("metrics listener", async move {
                if let Err(error) = listener.run_until(stop).await {
                    tracing::error!(error = %chain(&error), "metrics listener failed");
                }
            });
        }
        // The engine finishes the evaluation in flight, and the dispatcher
        // the deliveries in flight, before the worker returns.
        if let Some(worker) = self.worker {
            tasks.spawn(
                "embedded worker",
                worker.run_until_stopped(stop_sweeping.clone()),
            );
        }
        // The peer address feeds the sign-in and registration throttles.
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(Error::io("serving HTTP"));
        // Serving may also end on an error: stop the background work either
        // way, and wait for it, so that nothing outlives this call.
        stop_sweeping.cancel();
        tasks.wait().await;
        served
    }
}

/// How often points older than the retention are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Deletes expired points from the built-in metrics store every minute
/// until `shutdown` fires. Every replica sweeps; the deletes are idempotent,
/// so that costs a few empty queries and needs no leader.
async fn sweep_points(store: Store, retention: Duration, shutdown: CancellationToken) {
    every(SWEEP_EVERY, shutdown, || async {
        // Point times stay bare milliseconds: see `store::points`.
        let cutoff = (store.now() - retention).as_millis();
        match store.delete_points_before(cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, cutoff, "expired points deleted"),
            Err(error) => tracing::warn!(error = %chain(&error), "points retention sweep failed"),
        }
    })
    .await;
}

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let mcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_allowed_hosts(config.effective_allowed_hosts())
        .with_allowed_origins(config.allowed_origins.clone())
        .with_max_request_body_bytes(config.max_body_bytes);
    let mcp_config = if config.effective_allowed_hosts().is_empty() {
        mcp_config.disable_allowed_hosts()
    } else {
        mcp_config
    };
    let server = MonitorsMcp::new(
        state.store.clone(),
        state.source.clone(),
        state.sender.clone(),
        state.authority.clone(),
        state.metrics.clone(),
    );
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        mcp_config,
    );
    let authenticated_mcp = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            config.max_body_bytes,
            refuse_declared_oversize,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_principal,
        ))
        .service(mcp);

    // rmcp limits `/mcp` bodies itself and answers 413; an outer limit would
    // turn the same overflow into a body-read failure inside rmcp (a 500).
    let http_api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/ping", get(health::ping))
        .route("/health", get(health::influx_health))
        .route("/query", get(influx_query::query).post(influx_query::query))
        .merge(oauth::router())
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .with_state(state.clone())
        .merge(write::router(state.clone()));

    http_api.nest_service("/mcp", authenticated_mcp).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                        user_id = tracing::field::Empty,
                        tool = tracing::field::Empty,
                    )
                }),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            // Inside the trace: a request cut short is still logged, with
            // its 408, and nothing under it outlives the deadline.
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            )),
    )
}
