//! Typed parsing of client JSON whose errors name the field that failed.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::FieldError;

/// Deserializes `value`, reporting a failure with the dotted path of the
/// offending field (`condition.threshold`) and the reason in words a person
/// or a model can act on, not serde's (`expected f64`).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let parent = if path == "." { String::new() } else { path };
        let (child, reason) = plain_words(&error.into_inner().to_string());
        let field = match child {
            Some(child) if parent.is_empty() => child,
            Some(child) => format!("{parent}.{child}"),
            None => parent,
        };
        FieldError::new(field, reason)
    })
}

/// Rewrites serde's standard messages: the field a message is about when it
/// names one below the path (a missing field), and the reason.
/// Messages written by our own types' parsers pass through unchanged.
fn plain_words(message: &str) -> (Option<String>, String) {
    if let Some(name) = quoted(message, "missing field `") {
        return (Some(name.to_owned()), "required".to_owned());
    }
    // serde_path_to_error's path already ends at an unknown field.
    if quoted(message, "unknown field `").is_some() {
        let known = message
            .split_once(", expected ")
            .map(|(_, known)| listed(known))
            .filter(|known| !known.is_empty());
        let reason = match known {
            Some(known) => format!("not a field here; the fields are {known}"),
            None => "not a field here; this object takes no fields".to_owned(),
        };
        return (None, reason);
    }
    if let Some(value) = quoted(message, "unknown variant `") {
        let known = message
            .split_once(", expected ")
            .map(|(_, known)| listed(known))
            .unwrap_or_default();
        return (None, format!("must be one of {known}; got \"{value}\""));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((got, expected)) = rest.split_once(", expected ")
        {
            return (
                None,
                format!(
                    "expected {}, got {}",
                    expected_words(expected),
                    got_words(got)
                ),
            );
        }
    }
    (None, message.to_owned())
}

/// The text between `prefix` and the next backtick.
fn quoted<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name)
}

/// serde's "one of `a`, `b`" or "`a` or `b`" as `"a", "b"`.
fn listed(known: &str) -> String {
    known
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn expected_words(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "an object".to_owned(),
        other if other.starts_with("struct ") => "an object".to_owned(),
        other if other.starts_with("enum ") => "one of the values the schema lists".to_owned(),
        other => other.to_owned(),
    }
}

fn got_words(got: &str) -> String {
    let value = || got.split('`').nth(1).unwrap_or_default();
    if let Some(text) = got.strip_prefix("string ") {
        format!("the string {text}")
    } else if got.starts_with("integer ") || got.starts_with("floating point ") {
        format!("the number {}", value())
    } else if got.starts_with("boolean ") {
        value().to_owned()
    } else {
        match got {
            "map" => "an object".to_owned(),
            "sequence" => "a list".to_owned(),
            "unit" | "null" => "null".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// JSON Merge Patch (RFC 7396): keys in `patch` replace those in `target`,
/// objects merge recursively, and `null` removes a key.
pub fn merge_patch(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge_patch(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        threshold: f64,
    }

    #[test]
    fn merge_patch_replaces_merges_and_removes() {
        let mut target =
            json!({"host": "a", "port": 25, "auth": {"user": "u", "pass": "p"}, "to": ["x"]});
        merge_patch(
            &mut target,
            json!({"port": 587, "auth": {"pass": null}, "to": ["y", "z"], "from": "f"}),
        );
        assert_eq!(
            target,
            json!({"host": "a", "port": 587, "auth": {"user": "u"}, "to": ["y", "z"], "from": "f"})
        );
    }

    #[test]
    fn path_names_the_nested_field() {
        let err = from_value::<Outer>(json!({"inner": {"threshold": "70000"}})).unwrap_err();
        assert_eq!(err.field, "inner.threshold");
        assert_eq!(err.reason, r#"expected a number, got the string "70000""#);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        count: u32,
        on: bool,
        kind: Kind,
        items: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Threshold,
        PercentChange,
    }

    #[test]
    fn reasons_are_plain_words_and_name_the_field() {
        let cases = [
            (
                json!({"on": true, "kind": "threshold", "items": []}),
                "count",
                "required",
            ),
            (
                json!({"count": 1, "on": true, "kind": "threshold", "items": [], "extra": 1}),
                "extra",
                r#"not a field here; the fields are "count", "on", "kind", "items""#,
            ),
            (
                json!({"count": 1, "on": true, "kind": "absent", "items": []}),
                "kind",
                r#"must be one of "threshold", "percent_change"; got "absent""#,
            ),
            (
                json!({"count": -1, "on": true, "kind": "threshold", "items": []}),
                "count",
                "expected a whole number, 0 or more, got the number -1",
            ),
            (
                json!({"count": 1, "on": "yes", "kind": "threshold", "items": []}),
                "on",
                r#"expected true or false, got the string "yes""#,
            ),
            (
                json!({"count": 1, "on": true, "kind": "threshold", "items": {"a": 1}}),
                "items",
                "expected a list, got an object",
            ),
            (json!("x"), "", r#"expected an object, got the string "x""#),
        ];
        for (input, field, reason) in cases {
            let err = from_value::<Strict>(input.clone()).unwrap_err();
            assert_eq!(
                (err.field.as_str(), err.reason.as_str()),
                (field, reason),
                "{input}"
            );
        }
    }
}
