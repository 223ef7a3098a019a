use chrono::{DateTime, Utc};
use rmcp::{
    model::CallToolResult,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use shared_models::{
    ids::{AlertId, RuleId},
    rule::AlertState,
};

use crate::{
    mcp::{
        args::{Args, Caller},
        result::{ToolFailure, tool_result},
        schema,
        server::MonitorsMcp,
    },
    store::{AlertFilter, AlertRecord},
};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAlertsArgs {
    /// Only alerts that are currently "firing" or already "resolved".
    #[serde(default)]
    pub state: Option<AlertState>,
    /// Only alerts raised by this rule.
    #[serde(default)]
    pub rule_id: Option<RuleId>,
    /// Only alerts that started at or after this instant (RFC 3339, e.g. "2026-11-22T09:00:00Z").
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only acknowledged (true) or unacknowledged (false) alerts.
    #[serde(default)]
    pub acknowledged: Option<bool>,
    /// Page size, 1-200 (default 50).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The next_cursor of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertIdArgs {
    /// The alert's id, as returned by list_alerts.
    pub id: AlertId,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertList {
    /// Most recently started first.
    pub alerts: Vec<AlertRecord>,
    /// Pass as cursor to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[tool_router(router = alert_tools, vis = "pub(in crate::mcp)")]
impl MonitorsMcp {
    #[tool(
        description = "List alerts your rules raised, newest first, with the rule, series labels, value, start and resolve times, \
and each notification's delivery status. Filter by state (firing, resolved), rule_id, since (RFC 3339) or \
acknowledged. Paginated with cursor/next_cursor.",
        input_schema = schema::input::<ListAlertsArgs>(),
        output_schema = schema::output::<AlertList>(),
        annotations(title = "List alerts", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_alerts(
        &self,
        Caller(owner): Caller,
        Args(args): Args<ListAlertsArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let filter = AlertFilter {
            state: args.state,
            rule_id: args.rule_id,
            since: args.since,
            acknowledged: args.acknowledged,
            limit: args.limit,
            cursor: args.cursor,
        };
        tool_result(
            self.store
                .list_alerts(owner, filter)
                .await
                .map(|page| AlertList {
                    alerts: page.items,
                    next_cursor: page.next_cursor,
                }),
        )
    }

    #[tool(
        description = "Get one alert by id: the rule, series labels, value and threshold, when it started and resolved, its \
acknowledgement, and each notification about it (per state change and channel): delivered, pending a retry, \
failed (with the receiver's status and error), silenced or suppressed.",
        input_schema = schema::input::<AlertIdArgs>(),
        output_schema = schema::output::<AlertRecord>(),
        annotations(title = "Get alert", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_alert(
        &self,
        Caller(owner): Caller,
        Args(AlertIdArgs { id }): Args<AlertIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(self.store.get_alert(owner, id).await)
    }

    #[tool(
        description = "Acknowledge an alert: record that a person has seen it. Acknowledging again changes nothing. \
Returns the alert.",
        input_schema = schema::input::<AlertIdArgs>(),
        output_schema = schema::output::<AlertRecord>(),
        annotations(title = "Acknowledge alert", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn acknowledge_alert(
        &self,
        Caller(owner): Caller,
        Args(AlertIdArgs { id }): Args<AlertIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(self.store.acknowledge_alert(owner, id).await)
    }
}
