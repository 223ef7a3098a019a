use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Aggregation, Comparator, ConditionKind, ErrorPolicy, HumanDuration, NoDataPolicy, RuleInput,
    RuleLimits, RuleSpec, Severity,
};
use crate::{
    FieldError,
    json::{from_value, merge_patch},
};

/// A partial rule update, merged into the stored rule with JSON Merge Patch
/// semantics (RFC 7396): fields present replace, nested objects merge, and
/// `null` removes a field so that it takes its default again.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description; null clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    /// Metric fields to change; unspecified ones are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricPatch>,
    /// Condition fields to change; unspecified ones are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionPatch>,
    /// New evaluation interval, e.g. "30s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    /// New pending duration, e.g. "2m".
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<HumanDuration>,
    /// New severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Labels to set; a label set to null is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, Option<String>>>,
    /// Annotations to set; an annotation set to null is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, Option<String>>>,
    /// false pauses the rule, true resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<NoDataPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<ErrorPolicy>,
    /// Replaces the whole list of notification channel ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_on_resolve: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Tag filters to set; a tag set to null is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    /// Replaces the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ConditionKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Comparator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Null removes the hysteresis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<Option<f64>>,
}

/// Merges `patch` (already checked to have the [`RulePatch`] shape) into the
/// stored rule and parses the result as a whole, so that an update can never
/// produce a rule that creation would have refused.
pub fn apply_patch(
    stored: &RuleSpec,
    patch: Map<String, Value>,
    limits: &RuleLimits,
) -> Result<RuleSpec, FieldError> {
    from_value::<RulePatch>(Value::Object(patch.clone()))?;
    let mut merged = serde_json::to_value(stored)
        .map_err(|e| FieldError::new("", format!("stored rule could not be read: {e}")))?;
    merge_patch(&mut merged, Value::Object(patch));
    let input: RuleInput = from_value(merged)?;
    RuleSpec::parse(input, limits)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stored() -> RuleSpec {
        let input: RuleInput = serde_json::from_value(json!({
            "name": "BTC above 70k",
            "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": "BTC", "venue": "x"}},
            "condition": {"op": ">", "threshold": 70000, "recovery_threshold": 69000},
            "interval": "10s",
            "labels": {"team": "a"}
        }))
        .unwrap();
        RuleSpec::parse(input, &RuleLimits::default()).unwrap()
    }

    fn patch(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn nested_fields_merge_and_null_removes() {
        let updated = apply_patch(
            &stored(),
            patch(json!({"condition": {"threshold": 80000}, "metric": {"tags": {"venue": null}}, "enabled": false})),
            &RuleLimits::default(),
        )
        .unwrap();
        assert_eq!(updated.condition.threshold, Some(80000.0));
        assert_eq!(updated.condition.recovery_threshold, Some(69000.0));
        assert_eq!(updated.metric.tags.len(), 1);
        assert!(!updated.enabled);
        assert_eq!(updated.labels["team"], "a");
    }

    #[test]
    fn merged_rule_is_validated_as_a_whole() {
        // Lowering the threshold below the stored recovery threshold breaks hysteresis.
        let err = apply_patch(
            &stored(),
            patch(json!({"condition": {"threshold": 60000}})),
            &RuleLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.field, "condition.recovery_threshold");
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let err = apply_patch(
            &stored(),
            patch(json!({"colour": "red"})),
            &RuleLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.field, "colour");
        assert!(err.reason.starts_with("not a field here"), "{err}");
        let err = apply_patch(
            &stored(),
            patch(json!({"condition": {"threshold": "high"}})),
            &RuleLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.field, "condition.threshold");
    }
}
