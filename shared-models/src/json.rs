//! Typed parsing of client JSON whose errors name the field that failed.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::FieldError;

/// Deserializes `value`, reporting a failure with the dotted path of the
/// offending field (`condition.threshold`) and serde's reason.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        FieldError::new(field, error.into_inner().to_string())
    })
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
        let err = from_value::<Outer>(json!({"inner": {"threshold": "x"}})).unwrap_err();
        assert_eq!(err.field, "inner.threshold");
        assert!(err.reason.contains("invalid type"), "{}", err.reason);
    }
}
