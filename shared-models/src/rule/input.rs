use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Aggregation, Comparator, ConditionKind, ErrorPolicy, HumanDuration, NoDataPolicy, Severity,
};

/// An alert rule as a client writes it. Omitted optional fields take their
/// defaults; parsing it into a `RuleSpec` checks it whole.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Short human-readable name, e.g. "BTC above 70k" (1-200 characters).
    pub name: String,
    /// Optional longer explanation of what the rule watches and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The time series to watch.
    pub metric: MetricInput,
    /// When the rule fires.
    pub condition: ConditionInput,
    /// How often to evaluate the rule, e.g. "10s", "1m" (at least the server's minimum).
    pub interval: HumanDuration,
    /// How long the condition must hold before the alert fires (pending period). Default "0s".
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<HumanDuration>,
    /// Default warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Labels for the rule and its alerts, e.g. {"team": "trading"}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Message templates, e.g. {"summary": "{{rule.name}}: price is {{value}}"}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Whether the rule is evaluated. Default true; false pauses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Stay firing this long after the condition stops holding, to ride out dips. Default "0s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<HumanDuration>,
    /// When a series has no data: "no_data" (default; hold and report), "ok", "alerting" or "keep_last".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<NoDataPolicy>,
    /// When the query fails: "error" (default; hold and report), "keep_last" or "alerting".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<ErrorPolicy>,
    /// Ids of notification channels to notify when the alert fires and resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Least time between two notifications for one series, e.g. "10m". Default "0s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<HumanDuration>,
    /// Notify again while an alert stays firing, this often. Default "4h"; "0s" never repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<HumanDuration>,
    /// Whether to notify when the alert resolves. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_on_resolve: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricInput {
    /// InfluxDB measurement name, e.g. "crypto".
    pub measurement: String,
    /// Field to read, e.g. "price".
    pub field: String,
    /// Tag filters that select the series, e.g. {"symbol": "BTC"}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Database (InfluxDB 1.x) or bucket; default: the server's default database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// How points in the window are combined; default last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    /// How far back to look each evaluation. Default "5m".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    /// Tag keys to split by: one alert instance per distinct series, e.g. ["symbol"].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionInput {
    /// "threshold" (default): the value against the threshold; "percent_change": the change over the window in
    /// percent (op "<" with threshold -5 means "drops more than 5%"); "absence": no point at all within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ConditionKind>,
    /// Required except for absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Comparator>,
    /// The value compared against, e.g. 70000. Required except for absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Hysteresis: once firing, the alert resolves only when the value crosses this instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<f64>,
}
