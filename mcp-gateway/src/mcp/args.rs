//! What a tool receives besides the server: the caller ([`Caller`]) and its
//! typed arguments ([`Args`]), extracted from the call by rmcp. Arguments
//! arrive as a raw JSON object and are parsed here, so that a wrong type or
//! an unknown field is reported with its path, in plain words.

use std::any::Any;

use rmcp::{
    ErrorData,
    handler::server::{
        common::{FromContextPart, schema_for_type},
        tool::ToolCallContext,
    },
    model::{ErrorCode, Extensions, JsonObject},
    schemars::JsonSchema,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared_models::{FieldError, ids::UserId, json::from_value};

use crate::store::Principal;

/// The id of the authenticated user calling the tool: every tool acts on
/// this user's data only.
pub struct Caller(pub UserId);

impl<S> FromContextPart<ToolCallContext<'_, S>> for Caller {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        principal(&context.request_context.extensions)
            .map(|principal| Self(principal.user_id))
            .ok_or_else(|| {
                ErrorData::internal_error("request reached a tool without authentication", None)
            })
    }
}

/// The authenticated caller, placed in the HTTP request by the auth
/// middleware and carried into the tool call by rmcp.
pub(super) fn principal(extensions: &Extensions) -> Option<&Principal> {
    extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<Principal>()
}

/// A tool's arguments, parsed into `T`. A refusal is a tool error the model
/// reads (`field: reason`), not a JSON-RPC error; see [`REFUSED_ARGUMENT`].
pub struct Args<T>(pub T);

impl<S, T: DeserializeOwned + JsonSchema + Any> FromContextPart<ToolCallContext<'_, S>>
    for Args<T>
{
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        let args = context.arguments.take().unwrap_or_default();
        parse(args).map(Self).map_err(|error| {
            let data = json!({"field": error.field, "reason": error.reason});
            ErrorData::new(REFUSED_ARGUMENT, error.to_string(), Some(data))
        })
    }
}

/// rmcp lets an extractor fail only with a JSON-RPC error, yet a refused
/// argument must reach the model as a tool error. So it leaves [`Args`]
/// under this code, which no answer ever carries: the server turns it back
/// into the tool error ([`refused_argument`]) before anything is sent.
const REFUSED_ARGUMENT: ErrorCode = ErrorCode(-32_050);

/// The refused argument `error` carries out of [`Args`], if it does.
pub(super) fn refused_argument(error: &ErrorData) -> Option<FieldError> {
    if error.code != REFUSED_ARGUMENT {
        return None;
    }
    let data = error.data.as_ref()?;
    Some(FieldError::new(
        data.get("field")?.as_str()?.to_owned(),
        data.get("reason")?.as_str()?.to_owned(),
    ))
}

/// Parses a tool's arguments. A missing field is explained with its
/// schema's description, so the model learns what to send, not only that
/// something is missing (`interval: required (how often to evaluate …)`).
fn parse<T: DeserializeOwned + JsonSchema + Any>(args: JsonObject) -> Result<T, FieldError> {
    from_value(Value::Object(args)).map_err(explain_missing::<T>)
}

fn explain_missing<T: JsonSchema + Any>(error: FieldError) -> FieldError {
    if error.reason != "required" {
        return error;
    }
    match description_of(&schema_for_type::<T>(), &error.field) {
        Some(description) => {
            let reason = format!(
                "required ({})",
                lowercase_first(description.trim_end_matches('.'))
            );
            FieldError::new(error.field, reason)
        }
        None => error,
    }
}

/// The description of the property at a dotted path, following `$ref`s
/// into `$defs`.
fn description_of<'a>(schema: &'a JsonObject, path: &str) -> Option<&'a str> {
    let mut node = schema;
    let mut description = None;
    for name in path.split('.') {
        node = resolve(schema, node);
        let property = node.get("properties")?.get(name)?.as_object()?;
        description = property.get("description").and_then(Value::as_str);
        node = property;
    }
    description
}

/// `node` itself, or the definition its `$ref` (directly or as the one
/// non-null branch of an `anyOf`) points to.
fn resolve<'a>(root: &'a JsonObject, node: &'a JsonObject) -> &'a JsonObject {
    let reference = node.get("$ref").and_then(Value::as_str).or_else(|| {
        node.get("anyOf")?
            .as_array()?
            .iter()
            .find_map(|branch| branch.get("$ref")?.as_str())
    });
    reference
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| root.get("$defs")?.get(name)?.as_object())
        .unwrap_or(node)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Draft {
        /// How often to evaluate, e.g. "30s".
        interval: String,
        metric: Metric,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Metric {
        /// Field to read, e.g. "price".
        field: String,
    }

    fn refusal(args: Value) -> FieldError {
        let Value::Object(args) = args else { panic!() };
        let error = from_value::<Draft>(Value::Object(args)).unwrap_err();
        explain_missing::<Draft>(error)
    }

    #[test]
    fn a_missing_field_is_explained_by_its_description() {
        let error = refusal(json!({"metric": {"field": "price"}}));
        assert_eq!(
            error.to_string(),
            r#"interval: required (how often to evaluate, e.g. "30s")"#
        );
        let error = refusal(json!({"interval": "1m", "metric": {}}));
        assert_eq!(
            error.to_string(),
            r#"metric.field: required (field to read, e.g. "price")"#
        );
    }
}
