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
    fn path_names_the_nested_field() {
        let err = from_value::<Outer>(json!({"inner": {"threshold": "x"}})).unwrap_err();
        assert_eq!(err.field, "inner.threshold");
        assert!(err.reason.contains("invalid type"), "{}", err.reason);
    }
}
