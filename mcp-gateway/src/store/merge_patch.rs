//! JSON Merge Patch (RFC 7396), for updates that change a few fields of a
//! stored JSON object: keys in the patch replace, objects merge
//! recursively, and `null` removes.

use serde_json::Value;

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
    use serde_json::json;

    use super::*;

    #[test]
    fn replaces_merges_and_removes() {
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
    fn a_non_object_patch_replaces_the_whole() {
        let mut target = json!({"a": 1});
        merge_patch(&mut target, json!([1]));
        assert_eq!(target, json!([1]));
    }
}
