//! The one mapping from gateway errors to MCP. What the model can act on (a
//! refused argument, a missing object, a conflict, a dependency that did not
//! answer) is a tool execution error (`isError: true`), since only those
//! reach the model; JSON-RPC errors are left for what the client library
//! handles itself. Nothing internal is shown: causes go to the log once.

use rmcp::{
    ErrorData,
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult, ContentBlock, JsonObject, MetaObject},
};
use serde::Serialize;
use serde_json::{Value, json};
use shared_models::FieldError;

use alert_worker::SourceError;

use crate::error::{Error, chain};

/// Why a tool call did not succeed.
#[derive(Debug)]
pub enum ToolFailure {
    /// A tool execution error, with its text for the model.
    Tool(CallToolResult),
    /// A JSON-RPC error: a malformed request or a server fault.
    Protocol(ErrorData),
}

/// The `_meta` key under which a tool error carries its detail for
/// programs (`error`, and `field` and `reason` for a refused argument).
pub const ERROR_META_KEY: &str = "monitors-mcp/error";

impl ToolFailure {
    /// A tool error whose text is `text`, with `detail` (an object a program
    /// can read) in `_meta`. Not in `structuredContent`: the TypeScript SDK
    /// checks even an error's structured content against the tool's output
    /// schema and throws, so the model would never see the error.
    pub fn tool(text: String, detail: Value) -> Self {
        let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
        result.meta = Some(MetaObject(JsonObject::from_iter([(
            ERROR_META_KEY.to_owned(),
            detail,
        )])));
        Self::Tool(result)
    }
}

impl IntoCallToolResult for ToolFailure {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        match self {
            Self::Tool(result) => Ok(result.into()),
            Self::Protocol(error) => Err(error),
        }
    }
}

impl From<ErrorData> for ToolFailure {
    fn from(error: ErrorData) -> Self {
        Self::Protocol(error)
    }
}

/// A refused argument: `field: reason` for the model, both parts apart for
/// programs.
impl From<FieldError> for ToolFailure {
    fn from(error: FieldError) -> Self {
        let detail =
            json!({"error": "invalid_argument", "field": error.field, "reason": error.reason});
        Self::tool(error.to_string(), detail)
    }
}

impl From<Error> for ToolFailure {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(field) => field.into(),
            Error::NotFound { .. } => Self::tool(error.to_string(), json!({"error": "not_found"})),
            Error::Conflict(_) => Self::tool(error.to_string(), json!({"error": "conflict"})),
            Error::Source(source) => source_failure(&source),
            Error::Database(_) => {
                tracing::error!(error = %chain(&error), "tool failed");
                Self::tool(
                    "the service's database did not answer, so nothing was read or changed; \
                     try again in a moment"
                        .to_owned(),
                    json!({"error": "database_unavailable"}),
                )
            }
            error => {
                tracing::error!(error = %chain(&error), "tool failed");
                Self::tool(
                    "the service failed to complete this call and has logged why; try again, \
                     and if it keeps failing, ask the operator to look at the gateway's log"
                        .to_owned(),
                    json!({"error": "server_fault"}),
                )
            }
        }
    }
}

/// A metric source that failed: what failed, and that rules hold their
/// state meanwhile. The source's own words carry no credentials (they are
/// sent in headers, never in URLs).
fn source_failure(error: &SourceError) -> ToolFailure {
    let what = match error {
        SourceError::Timeout(after) => {
            format!("the metric source did not answer within {after:?}")
        }
        SourceError::Unreachable(why) => format!("the metric source did not answer ({why})"),
        SourceError::Refused(why) => format!("the metric source refused the query ({why})"),
        SourceError::Protocol(why) => {
            format!("the metric source answered with something unreadable ({why})")
        }
    };
    tracing::warn!(error = %what, "metric source failed during a tool call");
    ToolFailure::tool(
        format!("{what}; rules keep their state until it answers again. Try again later."),
        json!({"error": "source_unavailable", "reason": what}),
    )
}

pub fn tool_result<T: Serialize>(outcome: Result<T, Error>) -> Result<CallToolResult, ToolFailure> {
    let value = outcome?;
    serde_json::to_value(value)
        .map(CallToolResult::structured)
        .map_err(|e| unserialisable(&e))
}

/// A result that could not be serialised: a bug, reported as one.
pub fn unserialisable(error: &serde_json::Error) -> ToolFailure {
    tracing::error!(error = %error, "tool output could not be serialized");
    ToolFailure::Protocol(ErrorData::internal_error("internal error", None))
}

/// A successful result whose JSON text was made beside its value, for tools
/// that assemble both from cached parts: `text` must be `value` serialised
/// (what [`CallToolResult::structured`] would write, up to key order).
pub fn structured_with_text(value: Value, text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}
