use rmcp::{
    model::CallToolResult,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use shared_models::ids::GrantId;

use crate::{
    mcp::{
        args::{Args, Caller},
        result::{ToolFailure, tool_result},
        schema,
        server::MonitorsMcp,
    },
    store::GrantRecord,
};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionIdArgs {
    /// The connection's id, as list_connections returns it.
    pub id: GrantId,
}

/// An app (MCP client) the user connected to their account through OAuth.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Connection {
    pub id: String,
    /// The app's name as it registered.
    pub client_name: String,
    /// Its client id: a registration id, or the URL of its metadata document.
    pub client_id: String,
    /// What the user consented to: alerts:read, alerts:write.
    pub scope: String,
    pub connected_at: String,
    /// When it last refreshed its access.
    pub last_used_at: String,
    pub revoked: bool,
}

impl From<GrantRecord> for Connection {
    fn from(grant: GrantRecord) -> Self {
        Self {
            id: grant.id.to_string(),
            client_name: grant.client_name,
            client_id: grant.client_id,
            scope: grant.scope,
            connected_at: grant.created_at,
            last_used_at: grant.last_used_at,
            revoked: grant.revoked,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectionList {
    /// Newest first; revoked connections are not listed.
    pub connections: Vec<Connection>,
}

#[tool_router(router = connection_tools, vis = "pub(in crate::mcp)")]
impl MonitorsMcp {
    #[tool(
        description = "List the apps (MCP clients such as Claude) connected to this account through OAuth sign-in, \
with what each may do. API tokens are not listed.",
        input_schema = schema::input::<NoArgs>(),
        output_schema = schema::output::<ConnectionList>(),
        annotations(title = "List connections", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_connections(
        &self,
        Caller(owner): Caller,
        Args(NoArgs {}): Args<NoArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        tool_result(
            self.store
                .list_grants(owner)
                .await
                .map(|grants| ConnectionList {
                    connections: grants.into_iter().map(Connection::from).collect(),
                }),
        )
    }

    #[tool(
        description = "Disconnect an app from this account: its access and refresh tokens stop working within \
seconds, and it must ask the user to sign in and consent again. Disconnecting the app making this call ends \
its own access.",
        input_schema = schema::input::<ConnectionIdArgs>(),
        output_schema = schema::output::<Connection>(),
        annotations(title = "Revoke connection", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn revoke_connection(
        &self,
        Caller(owner): Caller,
        Args(ConnectionIdArgs { id }): Args<ConnectionIdArgs>,
    ) -> Result<CallToolResult, ToolFailure> {
        let revoked = self.store.revoke_grant(owner, id).await;
        if let Ok(grant) = &revoked {
            self.authority.revoked(&grant.id.to_string()).await;
        }
        tool_result(revoked.map(Connection::from))
    }
}
