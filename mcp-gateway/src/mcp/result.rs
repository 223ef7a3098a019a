//! The one mapping from gateway errors to MCP. Refused arguments are
//! JSON-RPC invalid-params errors naming the field; a missing object or a
//! conflict is a tool-level error the model can read and act on; anything
//! internal is logged with its cause chain and reported without detail.

use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock},
};
use serde::Serialize;
use serde_json::Value;

use super::args::invalid_params;
use crate::error::{Error, chain};

pub fn tool_result<T: Serialize>(outcome: Result<T, Error>) -> Result<CallToolResult, ErrorData> {
    match outcome {
        Ok(value) => serde_json::to_value(value)
            .map(CallToolResult::structured)
            .map_err(|e| {
                tracing::error!(error = %e, "tool output could not be serialized");
                ErrorData::internal_error("internal error", None)
            }),
        Err(Error::Invalid(field)) => Err(invalid_params(field)),
        Err(error @ (Error::NotFound { .. } | Error::Conflict(_))) => Ok(CallToolResult::error(
            vec![ContentBlock::text(error.to_string())],
        )),
        Err(error) => {
            tracing::error!(error = %chain(&error), "tool failed");
            Err(ErrorData::internal_error("internal error", None))
        }
    }
}

/// A successful result whose JSON text was made beside its value, for tools
/// that assemble both from cached parts: `text` must be `value` serialised
/// (what [`CallToolResult::structured`] would write, up to key order).
pub fn structured_with_text(value: Value, text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}
