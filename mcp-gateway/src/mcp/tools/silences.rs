use rmcp::{
    model::CallToolResult,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use shared_models::ids::SilenceId;

use super::Deleted;
use crate::{
    mcp::{
        args::{Args, Caller},
        result::{ToolFailure, tool_result},
        schema,
        server::MonitorsMcp,
    },
    store::{SilenceFilter, SilenceInput, SilenceRecord},
};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSilencesArgs {
    /// Also list silences that have ended (default: only active and future ones).
    #[serde(default)]
    pub include_expired: bool,
    /// Page size, 1-200 (default 50).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The next_cursor of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceIdArgs {
    /// The silence's id, as returned by create_silence or list_silences.
    pub id: SilenceId,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SilenceList {
    /// Newest first.
    pub silences: Vec<SilenceRecord>,
    /// Pass as cursor to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[tool_router(router = silence_tools, vis = "pub(in crate::mcp)")]
impl MonitorsMcp {
    #[tool(
        description = "Mute notifications for a while (maintenance): rules are still evaluated and alerts recorded, muted \
notifications shown as \"silenced\", but nothing is sent until it ends. Mute one rule (rule_id), or every \
alert whose labels (series and rule labels) include all of matchers (e.g. {\"symbol\": \"BTC\"}), or both. \
Say until when with ends_at (RFC 3339) or duration (\"2h\", \"1d\") from starts_at (default now), and why in \
comment. Example: {\"rule_id\": \"...\", \"duration\": \"2h\", \"comment\": \"exchange maintenance\"}.",
        input_schema = schema::input::<SilenceInput>(),
        output_schema = schema::output::<SilenceRecord>(),
        annotations(title = "Create silence", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_silence(
        &self,
        Caller(owner): Caller,
        Args(input): Args<SilenceInput>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(self.store.create_silence(owner, input).await)
    }

    #[tool(
        description = "List your silences, newest first, each with its state: active (muting now), pending (starts \
later) or expired. Only active and pending ones unless include_expired is true. Paginated with cursor/next_cursor.",
        input_schema = schema::input::<ListSilencesArgs>(),
        output_schema = schema::output::<SilenceList>(),
        annotations(title = "List silences", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_silences(
        &self,
        Caller(owner): Caller,
        Args(args): Args<ListSilencesArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let filter = SilenceFilter {
            include_expired: args.include_expired,
            limit: args.limit,
            cursor: args.cursor,
        };
        tool_result(
            self.store
                .list_silences(owner, filter)
                .await
                .map(|page| SilenceList {
                    silences: page.items,
                    next_cursor: page.next_cursor,
                }),
        )
    }

    #[tool(
        description = "Delete a silence, ending it now: notifications are sent again, and an alert that fired \
while muted and is still firing is notified at its rule's next evaluation.",
        input_schema = schema::input::<SilenceIdArgs>(),
        output_schema = schema::output::<Deleted>(),
        annotations(title = "Delete silence", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_silence(
        &self,
        Caller(owner): Caller,
        Args(SilenceIdArgs { id }): Args<SilenceIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .delete_silence(owner, id)
                .await
                .map(|()| Deleted::of(id)),
        )
    }
}
