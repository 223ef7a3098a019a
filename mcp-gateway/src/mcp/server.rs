use std::{collections::HashSet, sync::Arc, time::Instant};

use alert_worker::{MetricSource, Sender};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{
        router::tool::ToolRouter,
        tool::{IntoCallToolResult, ToolCallContext},
    },
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool_handler,
};
use tracing::{Instrument, Span, field::Empty};

use super::{
    args::{principal, refused_argument},
    result::ToolFailure,
    scopes,
};
use crate::{
    metrics::{GatewayMetrics, ToolOutcome},
    oauth::authority::Authority,
    store::Store,
};

const INSTRUCTIONS: &str = "monitors-mcp watches time-series metrics and raises alerts. \
Create a rule with create_alert_rule (metric + condition + interval); the service evaluates it \
continuously and records an alert each time it fires. Use list_alerts to see what fired and \
acknowledge_alert once a human has seen it. Rules can be paused and resumed with update_alert_rule \
by setting enabled. To be told when a rule fires and resolves, create a notification channel \
(create_notification_channel: Slack, Discord, Teams, signed webhook, email or PagerDuty), check it \
with test_notification_channel, and list its id in the rule's channels; cooldown, repeat_interval and \
notify_on_resolve on the rule control how often it notifies. get_alert shows whether each \
notification was delivered. To mute notifications for a while (maintenance), use create_silence.";

/// One instance is built at start and cloned per request: the tool router
/// (with its JSON schemas) is computed once, not on every call, and shared
/// rather than copied (cloning its map of 18 routes cost every call).
#[derive(Clone)]
pub struct MonitorsMcp {
    pub(super) store: Store,
    pub(super) source: Arc<dyn MetricSource>,
    /// Checks channel destinations and sends test messages.
    pub(super) sender: Arc<Sender>,
    /// Told of revocations so this replica refuses their tokens at once.
    pub(super) authority: Arc<Authority>,
    tool_router: Arc<ToolRouter<Self>>,
    /// The tools whose calls need `alerts:write`.
    write_tools: Arc<HashSet<String>>,
    metrics: Arc<GatewayMetrics>,
}

impl MonitorsMcp {
    pub fn new(
        store: Store,
        source: Arc<dyn MetricSource>,
        sender: Arc<Sender>,
        authority: Arc<Authority>,
        metrics: Arc<GatewayMetrics>,
    ) -> Self {
        let tool_router = Self::tools();
        for tool in tool_router.list_all() {
            metrics.expect_tool(&tool.name);
        }
        Self {
            store,
            source,
            sender,
            authority,
            tool_router: Arc::new(tool_router),
            write_tools: Arc::new(Self::write_tool_names()),
            metrics,
        }
    }

    fn tools() -> ToolRouter<Self> {
        Self::rule_tools()
            + Self::alert_tools()
            + Self::metric_tools()
            + Self::channel_tools()
            + Self::silence_tools()
            + Self::connection_tools()
    }

    /// The tools that change something (not annotated read-only): calling
    /// one needs the `alerts:write` scope. The annotations clients see are
    /// the one source of truth.
    pub fn write_tool_names() -> HashSet<String> {
        Self::tools()
            .list_all()
            .into_iter()
            .filter(|tool| tool.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true))
            .map(|tool| tool.name.to_string())
            .collect()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MonitorsMcp {
    /// Routes to the tool, naming the unknown tool and the known ones when
    /// the name matches none (rmcp's own message does not).
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tool_router.has_route(&request.name) {
            let known: Vec<String> = self
                .tool_router
                .list_all()
                .into_iter()
                .map(|t| t.name.to_string())
                .collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; the tools are: {}",
                    request.name,
                    known.join(", ")
                ),
                None,
            ));
        }
        let tool = request.name.clone();
        // Beneath the HTTP request's span, which names the tool too.
        let request_span = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Span>())
            .cloned()
            .unwrap_or_else(Span::current);
        request_span.record("tool", &*tool);
        let span = tracing::info_span!(
            parent: &request_span,
            "tool_call",
            tool = &*tool,
            user_id = Empty,
            outcome = Empty,
        );
        let started = Instant::now();
        let answer = self.answer(request, context).instrument(span.clone()).await;
        let outcome = match &answer {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
                ToolOutcome::ToolError
            }
            Ok(_) => ToolOutcome::Ok,
            Err(error) => {
                span.in_scope(|| {
                    tracing::warn!(tool = &*tool, code = error.code.0, error = %error.message, "tool call failed");
                });
                ToolOutcome::Error
            }
        };
        span.record("outcome", outcome.as_str());
        self.metrics.tool_call(&tool, outcome, started.elapsed());
        answer
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("monitors-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Monitors"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

impl MonitorsMcp {
    /// A known tool's answer: refused when the caller's token lacks the
    /// scope it needs, else the tool's own, with a refused argument as the
    /// tool error it is.
    async fn answer(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if let Some(principal) = principal(&context.extensions) {
            Span::current().record("user_id", tracing::field::display(principal.user_id));
            if let Some(refusal) =
                scopes::refusal(&self.store, principal, &request.name, &self.write_tools).await
            {
                return refusal.into_call_tool_result();
            }
        }
        let call = ToolCallContext::new(self, request, context);
        match self.tool_router.call(call).await {
            Err(error) => match refused_argument(&error) {
                Some(refused) => ToolFailure::from(refused).into_call_tool_result(),
                None => Err(error),
            },
            answer => answer,
        }
    }
}
