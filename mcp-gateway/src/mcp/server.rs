use std::{collections::HashSet, sync::Arc};

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

use super::scopes;
use crate::{
    oauth::authority::Authority,
    store::{Principal, Store},
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
}

impl MonitorsMcp {
    pub fn new(
        store: Store,
        source: Arc<dyn MetricSource>,
        sender: Arc<Sender>,
        authority: Arc<Authority>,
    ) -> Self {
        Self {
            store,
            source,
            sender,
            authority,
            tool_router: Arc::new(Self::tools()),
            write_tools: Arc::new(Self::write_tool_names()),
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
        if let Some(principal) = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            && let Some(refusal) =
                scopes::refusal(&self.store, principal, &request.name, &self.write_tools).await
        {
            return refusal.into_call_tool_result();
        }
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
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

/// The authenticated caller, placed in the HTTP request by the auth
/// middleware and carried into the tool call by rmcp.
pub(super) fn principal(parts: &http::request::Parts) -> Result<Principal, ErrorData> {
    parts.extensions.get::<Principal>().copied().ok_or_else(|| {
        ErrorData::internal_error("request reached a tool without authentication", None)
    })
}
