//! Tool arguments arrive as a raw JSON object and are parsed here, so that a
//! wrong type or an unknown field is reported with its path.

use rmcp::{ErrorData, model::JsonObject};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared_models::{FieldError, json::from_value};

pub fn parse<T: DeserializeOwned>(args: JsonObject) -> Result<T, ErrorData> {
    from_value(Value::Object(args)).map_err(invalid_params)
}

/// The JSON-RPC form of a refused argument: code -32602, the message in the
/// `field: reason` form, and both parts in `data` for programs.
pub fn invalid_params(error: FieldError) -> ErrorData {
    let data = json!({"field": error.field, "reason": error.reason});
    ErrorData::invalid_params(error.to_string(), Some(data))
}
