use std::fmt;

use schemars::JsonSchema;
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
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
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

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Critical]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// The lifecycle of one alert instance (one rule and one series).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Firing, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == raw)
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
