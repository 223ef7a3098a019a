//! Scopes as the model sees them. An OAuth connection lacking a scope is
//! refused before the call with the step-up challenge (`auth`), which its
//! client answers by asking the user. An API token cannot step up, so a
//! challenge would only reach the model as a failed request; its call is
//! refused here instead, as a tool error naming the scope and the command
//! that creates a token holding it.

use std::collections::HashSet;

use serde_json::json;

use crate::{
    auth::scope::{Scope, Scopes},
    mcp::result::ToolFailure,
    store::{Principal, Store},
};

/// `None` when `principal` may call `tool`; else the tool error to answer.
pub async fn refusal(
    store: &Store,
    principal: &Principal,
    tool: &str,
    write_tools: &HashSet<String>,
) -> Option<ToolFailure> {
    let scope = Scope::to_call(tool, write_tools);
    if principal.scopes.contains(scope) {
        return None;
    }
    // The email makes the command one to copy; without it (the database did
    // not answer) the placeholder still shows the shape.
    let user = match store.user_by_id(principal.user_id).await {
        Ok(user) => user.email,
        Err(_) => "<your email>".to_owned(),
    };
    let wanted = Scopes::all();
    Some(ToolFailure::tool(
        format!(
            "{tool} needs the {scope} scope, and the API token used here has only \"{held}\". \
             A token's scopes cannot be widened; whoever runs the service can create one that \
             has it with `mcp-gateway token create --user {user} --scopes \"{wanted}\"`, \
             to use in place of this one.",
            scope = scope.as_str(),
            held = principal.scopes,
        ),
        json!({"error": "insufficient_scope", "scope": scope.as_str()}),
    ))
}
