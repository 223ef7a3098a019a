//! Tool arguments arrive as a raw JSON object and are parsed here, so that a
//! wrong type or an unknown field is reported with its path, in plain words.

use std::any::Any;

use rmcp::{handler::server::common::schema_for_type, model::JsonObject, schemars::JsonSchema};
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared_models::{FieldError, json::from_value};

use super::result::ToolFailure;

/// Parses a tool's arguments. A missing field is explained with its
/// schema's description, so the model learns what to send, not only that
/// something is missing (`interval: required (how often to evaluate …)`).
pub fn parse<T: DeserializeOwned + JsonSchema + Any>(args: JsonObject) -> Result<T, ToolFailure> {
    from_value(Value::Object(args)).map_err(|error| explain_missing::<T>(error).into())
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
