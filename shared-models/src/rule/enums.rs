use std::fmt;

use schemars::JsonSchema;
use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};

/// How a rule compares the observed value with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Comparator {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Comparator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Gt => value > threshold,
            Self::Ge => value >= threshold,
            Self::Lt => value < threshold,
            Self::Le => value <= threshold,
            Self::Eq => value == threshold,
            Self::Ne => value != threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the points inside the window are reduced to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Last,
    Mean,
    Min,
    Max,
    Sum,
    Count,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Mean => "mean",
            Self::Min => "min",
            Self::Max => "max",
            Self::Sum => "sum",
            Self::Count => "count",
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Severity {
    #[sea_orm(string_value = "info")]
    Info,
    #[default]
    #[sea_orm(string_value = "warning")]
    Warning,
    #[sea_orm(string_value = "critical")]
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// What a condition tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// The aggregated value compared with the threshold.
    #[default]
    Threshold,
    /// The change over the window, in percent of its first value, compared
    /// with the threshold ("drops 5% within 1h": op "<", threshold -5).
    PercentChange,
    /// No point at all within the window (a dead man's switch).
    Absence,
}

/// What an evaluation does when a series has no data in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoDataPolicy {
    /// Treat as the condition not holding: pending resets, firing resolves.
    Ok,
    /// Treat as the condition holding (after `for`, it fires).
    Alerting,
    /// Hold the series in a visible no_data state: nothing fires, a firing
    /// alert stays firing, and rule health reports it.
    #[default]
    NoData,
    /// Keep the last state silently.
    KeepLast,
}

/// What an evaluation does when the query fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// Keep every series as it was and report the error in rule health.
    #[default]
    Error,
    /// Keep every series as it was, without flagging the rule.
    KeepLast,
    /// Treat as the condition holding.
    Alerting,
}

/// The lifecycle of one alert instance (one rule and one series).
/// Stored as its lowercase name, as on the wire.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AlertState {
    #[sea_orm(string_value = "firing")]
    Firing,
    #[sea_orm(string_value = "resolved")]
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparators_hold_as_written() {
        assert!(Comparator::Gt.holds(70_001.0, 70_000.0));
        assert!(!Comparator::Gt.holds(70_000.0, 70_000.0));
        assert!(Comparator::Ge.holds(70_000.0, 70_000.0));
        assert!(Comparator::Lt.holds(1.0, 2.0));
        assert!(Comparator::Le.holds(2.0, 2.0));
        assert!(Comparator::Eq.holds(2.0, 2.0));
        assert!(Comparator::Ne.holds(2.0, 3.0));
    }

    #[test]
    fn comparators_use_their_symbols_on_the_wire() {
        let op: Comparator = serde_json::from_str("\">=\"").unwrap();
        assert_eq!(op, Comparator::Ge);
        assert_eq!(serde_json::to_string(&Comparator::Ne).unwrap(), "\"!=\"");
    }
}
