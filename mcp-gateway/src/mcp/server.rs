use std::sync::Arc;

use alert_worker::source::MetricSource;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext},
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool_handler,
};

use crate::store::{Principal, Store};

const INSTRUCTIONS: &str = "monitors-mcp watches time-series metrics and raises alerts. \
Create a rule with create_alert_rule (metric + condition + interval); the service evaluates it \
continuously and records an alert each time it fires. Use list_alerts to see what fired and \
acknowledge_alert once a human has seen it. Rules can be paused and resumed with update_alert_rule \
by setting enabled.";

/// One instance is built at start and cloned per request: the tool router
/// (with its JSON schemas) is computed once, not on every call.
#[derive(Clone)]
pub struct MonitorsMcp {
    pub(super) store: Store,
    pub(super) source: Arc<dyn MetricSource>,
    tool_router: ToolRouter<Self>,
}

impl MonitorsMcp {
    pub fn new(store: Store, source: Arc<dyn MetricSource>) -> Self {
        Self {
            store,
            source,
            tool_router: Self::rule_tools() + Self::alert_tools() + Self::metric_tools(),
        }
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
