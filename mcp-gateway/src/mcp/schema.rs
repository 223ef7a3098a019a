//! The JSON schemas the tools publish. Every conversation pays for
//! `tools/list` in tokens, so the schemas schemars derives are compacted
//! once, at start: nothing a client needs is lost, only what repeats.
//!
//! - No `$schema` (2020-12 is MCP's default dialect) and no numeric
//!   `format`s (`double`, `uint64`: the `type` and `minimum` say it).
//! - An optional property is not also nullable: `null` is what serde
//!   accepts for "absent" on input and never sends on output. Merge
//!   patches keep `null`, which resets a field there.
//! - An enum whose variants carry descriptions becomes a plain `enum`; the
//!   property that uses it describes the values for the model.
//! - Output schemas carry types only: the tool's description and its input
//!   schema say what the fields mean.
//! - The root type's own description goes: the tool's description speaks
//!   for the arguments as a whole.

use std::{any::Any, sync::Arc};

use rmcp::{
    handler::server::common::{schema_for_output, schema_for_type},
    model::JsonObject,
    schemars::JsonSchema,
};
use serde_json::{Map, Value};

/// How much prose a compacted schema keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prose {
    /// Every property description.
    All,
    /// Only the descriptions of the top-level properties: for arguments that
    /// embed a type another tool's schema already describes in full.
    TopLevel,
    /// None.
    Nothing,
}

#[derive(Debug, Clone, Copy)]
struct Options {
    prose: Prose,
    /// Keep `null` as an accepted value of optional properties.
    nullable: bool,
}

/// The arguments of a tool.
pub fn input<T: JsonSchema + Any>() -> Arc<JsonObject> {
    compacted(
        &schema_for_type::<T>(),
        Options {
            prose: Prose::All,
            nullable: false,
        },
    )
}

/// The arguments of a tool that embeds a type whose fields another tool
/// describes (a draft rule, exactly as `create_alert_rule` takes it).
pub fn input_described_elsewhere<T: JsonSchema + Any>() -> Arc<JsonObject> {
    compacted(
        &schema_for_type::<T>(),
        Options {
            prose: Prose::TopLevel,
            nullable: false,
        },
    )
}

/// The arguments of a JSON Merge Patch tool, where `null` resets a field.
pub fn patch<T: JsonSchema + Any>() -> Arc<JsonObject> {
    compacted(
        &schema_for_type::<T>(),
        Options {
            prose: Prose::All,
            nullable: true,
        },
    )
}

/// What a tool returns, as serialised.
pub fn output<T: JsonSchema + Any>() -> Arc<JsonObject> {
    compacted(
        &schema_for_output::<T>(),
        Options {
            prose: Prose::Nothing,
            nullable: false,
        },
    )
}

fn compacted(schema: &JsonObject, options: Options) -> Arc<JsonObject> {
    let mut schema = schema.clone();
    schema.remove("$schema");
    schema.remove("title");
    // The tool's description speaks for its arguments as a whole; the root
    // type's doc comment is written for this code's readers.
    schema.remove("description");
    inline_definitions(&mut schema);
    compact_object(&mut schema, options, Depth::Root);
    // Compacting may leave a definition smaller than a reference to it.
    inline_definitions(&mut schema);
    Arc::new(schema)
}

/// A definition referred to once, or no longer than a reference to it, is
/// written where it is used: the `$ref` and the name cost more than they
/// share.
fn inline_definitions(schema: &mut JsonObject) {
    let Some(Value::Object(mut definitions)) = schema.remove("$defs") else {
        return;
    };
    loop {
        let mut uses = std::collections::BTreeMap::<String, usize>::new();
        schema
            .values()
            .chain(definitions.values())
            .for_each(|node| count_references(node, &mut uses));
        let single: Vec<String> = definitions
            .iter()
            .filter(|(name, definition)| {
                uses.get(*name) == Some(&1)
                    || definition.to_string().len() <= r##""$ref":"#/$defs/""##.len() + name.len()
            })
            .map(|(name, _)| name.clone())
            .collect();
        if single.is_empty() {
            break;
        }
        for name in single {
            if let Some(definition) = definitions.remove(&name) {
                let reference = format!("#/$defs/{name}");
                let mut root = Value::Object(std::mem::take(schema));
                replace_reference(&mut root, &reference, &definition);
                if let Value::Object(root) = root {
                    *schema = root;
                }
                for other in definitions.values_mut() {
                    replace_reference(other, &reference, &definition);
                }
            }
        }
    }
    if !definitions.is_empty() {
        schema.insert("$defs".to_owned(), Value::Object(definitions));
    }
}

fn count_references(node: &Value, uses: &mut std::collections::BTreeMap<String, usize>) {
    match node {
        Value::Object(object) => {
            if let Some(name) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                *uses.entry(name.to_owned()).or_default() += 1;
            }
            object
                .values()
                .for_each(|child| count_references(child, uses));
        }
        Value::Array(items) => items.iter().for_each(|child| count_references(child, uses)),
        _ => {}
    }
}

/// Replaces the object that refers to `reference` by the definition, keeping
/// the referring object's own keys (its description).
fn replace_reference(node: &mut Value, reference: &str, definition: &Value) {
    match node {
        Value::Object(object) => {
            if object.get("$ref").and_then(Value::as_str) == Some(reference) {
                object.remove("$ref");
                if let Value::Object(definition) = definition {
                    for (key, value) in definition {
                        object.entry(key.clone()).or_insert_with(|| value.clone());
                    }
                }
                return;
            }
            object
                .values_mut()
                .for_each(|child| replace_reference(child, reference, definition));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|child| replace_reference(child, reference, definition)),
        _ => {}
    }
}

/// Where in the schema a node sits, for [`Prose::TopLevel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Root,
    /// A property of the root object.
    TopProperty,
    Nested,
}

const NUMERIC_FORMATS: [&str; 12] = [
    "double", "float", "int8", "int16", "int32", "int64", "int", "uint8", "uint16", "uint32",
    "uint64", "uint",
];

fn compact(node: &mut Value, options: Options, depth: Depth) {
    match node {
        Value::Object(object) => compact_object(object, options, depth),
        Value::Array(items) => {
            for item in items {
                compact(item, options, Depth::Nested);
            }
        }
        _ => {}
    }
}

fn compact_object(object: &mut Map<String, Value>, options: Options, depth: Depth) {
    if object
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| NUMERIC_FORMATS.contains(&f))
    {
        object.remove("format");
    }
    let keep_prose = match options.prose {
        Prose::All => true,
        Prose::TopLevel => depth == Depth::TopProperty,
        Prose::Nothing => false,
    };
    if !keep_prose && depth != Depth::Root {
        object.remove("description");
    }
    // Output schemas are read by validators, for which an `enum` of strings
    // says all that its `type` would; a pattern guides what a model writes,
    // and nothing reads an output that way.
    if options.prose == Prose::Nothing {
        if object.contains_key("enum") {
            object.remove("type");
        }
        object.remove("pattern");
    }
    // A default of null says no more than "optional" does.
    if object.get("default") == Some(&Value::Null) {
        object.remove("default");
    }
    fold_described_enum(object);

    let required: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        let child = if depth == Depth::Root {
            Depth::TopProperty
        } else {
            Depth::Nested
        };
        for (name, property) in properties.iter_mut() {
            compact(property, options, child);
            if !required.contains(name) {
                if options.nullable {
                    nullable_in_place(property);
                } else {
                    drop_null(property);
                }
            }
        }
    }
    if let Some(Value::Object(definitions)) = object.get_mut("$defs") {
        for definition in definitions.values_mut() {
            compact(definition, options, Depth::Nested);
            // A shared enum is described where it is used.
            if let Value::Object(definition) = definition
                && definition.contains_key("enum")
            {
                definition.remove("description");
            }
        }
    }
    for key in ["items", "additionalProperties", "anyOf", "oneOf", "allOf"] {
        if let Some(child) = object.get_mut(key) {
            compact(child, options, Depth::Nested);
        }
    }
    // An enum type's own doc comment, inlined as a branch of `anyOf` (a
    // nullable patch field), is said better by the property holding it.
    if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
        for branch in branches.iter_mut().filter_map(Value::as_object_mut) {
            if branch.contains_key("enum") {
                branch.remove("description");
            }
        }
    }
    // A patch's map values may be null too (`{"labels": {"team": null}}`).
    if options.nullable
        && let Some(values) = object.get_mut("additionalProperties")
    {
        nullable_in_place(values);
    }
}

/// `{"oneOf": [{"const": "a", "description": …}, …]}` (and schemars' mix of
/// `enum` and `const` branches) becomes `{"type": "string", "enum": […]}`.
fn fold_described_enum(object: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = object.get("oneOf") else {
        return;
    };
    let mut values = Vec::new();
    for branch in branches {
        let Value::Object(branch) = branch else {
            return;
        };
        if branch.get("type").and_then(Value::as_str) != Some("string") {
            return;
        }
        match (branch.get("const"), branch.get("enum")) {
            (Some(value), None) => values.push(value.clone()),
            (None, Some(Value::Array(listed))) => values.extend(listed.iter().cloned()),
            _ => return,
        }
    }
    object.remove("oneOf");
    object.insert("type".to_owned(), Value::from("string"));
    object.insert("enum".to_owned(), Value::Array(values));
}

/// A nullable property's `{"type": ["object", "null"], …}` becomes
/// `{"anyOf": [{"type": "object", …}, {"type": "null"}]}`: strict schema
/// checkers (MCP Inspector's) warn on a `type` that is an array.
fn nullable_in_place(property: &mut Value) {
    let Value::Object(object) = property else {
        return;
    };
    let Some(Value::Array(types)) = object.get("type") else {
        return;
    };
    let kinds: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    if kinds.len() != 1 || kinds.len() == types.len() {
        return;
    }
    let description = object.remove("description");
    let mut branch = std::mem::take(object);
    branch.insert("type".to_owned(), kinds[0].clone());
    let null = Value::Object(Map::from_iter([("type".to_owned(), Value::from("null"))]));
    object.insert(
        "anyOf".to_owned(),
        Value::Array(vec![Value::Object(branch), null]),
    );
    if let Some(description) = description {
        object.insert("description".to_owned(), description);
    }
}

/// An optional property's `["string", "null"]` becomes `"string"`, and its
/// `anyOf: [{"$ref": …}, {"type": "null"}]` becomes the `$ref`.
fn drop_null(property: &mut Value) {
    let Value::Object(object) = property else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".to_owned(), only);
        }
    }
    let null = Value::Object(Map::from_iter([("type".to_owned(), Value::from("null"))]));
    if let Some(Value::Array(branches)) = object.get("anyOf")
        && branches.len() == 2
        && branches.contains(&null)
        && let Some(Value::Object(other)) = branches.iter().find(|b| **b != null).cloned()
    {
        object.remove("anyOf");
        for (key, value) in other {
            object.entry(key).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compact_value(schema: Value, options: Options) -> Value {
        let Value::Object(schema) = schema else {
            panic!("object")
        };
        Value::Object((*compacted(&schema, options)).clone())
    }

    #[test]
    fn optional_properties_lose_null_unless_patching() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["always"],
            "properties": {
                "always": {"type": ["number", "null"], "format": "double"},
                "sometimes": {"type": ["string", "null"], "description": "d"},
                "kind": {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "null"}], "description": "k"}
            },
            "$defs": {"Kind": {"description": "what", "oneOf": [
                {"type": "string", "const": "a", "description": "A"},
                {"type": "string", "enum": ["b"]}
            ]}}
        });
        let input = Options {
            prose: Prose::All,
            nullable: false,
        };
        assert_eq!(
            compact_value(schema.clone(), input),
            json!({
                "type": "object",
                "required": ["always"],
                "properties": {
                    "always": {"type": ["number", "null"]},
                    "sometimes": {"type": "string", "description": "d"},
                    "kind": {"type": "string", "enum": ["a", "b"], "description": "k"}
                }
            })
        );
        let patch = compact_value(
            schema,
            Options {
                nullable: true,
                ..input
            },
        );
        assert_eq!(
            patch["properties"]["sometimes"],
            json!({"anyOf": [{"type": "string"}, {"type": "null"}], "description": "d"})
        );
    }

    #[test]
    fn top_level_prose_keeps_only_the_root_properties_descriptions() {
        let schema = json!({
            "type": "object",
            "description": "root",
            "properties": {"rule": {"$ref": "#/$defs/Rule", "description": "the rule"}},
            "$defs": {"Rule": {"type": "object", "description": "a rule",
                "properties": {"name": {"type": "string", "description": "its name"}}}}
        });
        let brief = compact_value(
            schema,
            Options {
                prose: Prose::TopLevel,
                nullable: false,
            },
        );
        assert_eq!(
            brief,
            json!({
                "type": "object",
                "properties": {"rule": {"type": "object", "description": "the rule",
                    "properties": {"name": {"type": "string"}}}}
            })
        );
    }
}
