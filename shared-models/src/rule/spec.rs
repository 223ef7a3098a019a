use std::collections::BTreeMap;

use schemars::JsonSchema;
use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

use super::{
    Aggregation, Comparator, ConditionInput, ConditionKind, ErrorPolicy, HumanDuration,
    MetricInput, NoDataPolicy, RuleInput, RuleLimits, Severity, limits::*,
};
use crate::{FieldError, ids::ChannelId};

/// A rule known to be valid. Its serialized form is the same JSON shape as
/// [`RuleInput`] with every default filled in, which is what clients see and
/// what partial updates merge into, and the text the `spec` column holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, DeriveValueType)]
#[sea_orm(
    value_type = "String",
    column_type = "Text",
    from_str = "super::stored::parse",
    to_str = "super::stored::text"
)]
pub struct RuleSpec {
    pub name: RuleName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub metric: MetricQuery,
    pub condition: Condition,
    pub interval: HumanDuration,
    #[serde(rename = "for")]
    pub for_: HumanDuration,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub enabled: bool,
    pub keep_firing_for: HumanDuration,
    pub no_data: NoDataPolicy,
    pub on_error: ErrorPolicy,
    #[schemars(with = "Vec<String>")]
    pub channels: Vec<ChannelId>,
    pub cooldown: HumanDuration,
    pub repeat_interval: HumanDuration,
    pub notify_on_resolve: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RuleName(String);

impl RuleName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        check_text("name", name, MAX_NAME_CHARS)?;
        if name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricQuery {
    pub measurement: String,
    pub field: String,
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub aggregation: Aggregation,
    pub window: HumanDuration,
    pub group_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Condition {
    pub kind: ConditionKind,
    /// Present for threshold and percent-change conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Comparator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<f64>,
}

const DEFAULT_WINDOW: HumanDuration = HumanDuration::from_secs(300);
const DEFAULT_REPEAT_INTERVAL: HumanDuration = HumanDuration::from_secs(4 * 3_600);

/// Channel ids, each once. Whether they exist and belong to the rule's owner
/// is the store's check, made in the transaction that writes the rule.
fn parse_channels(raw: Vec<String>) -> Result<Vec<ChannelId>, FieldError> {
    if raw.len() > MAX_CHANNELS {
        return Err(FieldError::new(
            "channels",
            format!("at most {MAX_CHANNELS} channels"),
        ));
    }
    let mut out: Vec<ChannelId> = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        let field = format!("channels[{i}]");
        let id = ChannelId::parse_field(id, &field)?;
        if out.contains(&id) {
            return Err(FieldError::new(field, "is listed twice"));
        }
        out.push(id);
    }
    Ok(out)
}

impl RuleSpec {
    /// Checks every field of a client's rule and fills in defaults. The first
    /// problem found is reported with its field path.
    pub fn parse(input: RuleInput, limits: &RuleLimits) -> Result<Self, FieldError> {
        let name = RuleName::parse(&input.name)?;
        let description = input
            .description
            .map(|d| {
                check_text("description", &d, MAX_DESCRIPTION_CHARS)?;
                Ok::<_, FieldError>(d)
            })
            .transpose()?
            .filter(|d| !d.trim().is_empty());
        let metric = MetricQuery::parse(input.metric, limits).map_err(|e| e.within("metric"))?;
        let condition = Condition::parse(input.condition).map_err(|e| e.within("condition"))?;
        check_range(
            "interval",
            input.interval,
            limits.min_interval,
            limits.max_interval,
        )?;
        let for_ = input.for_.unwrap_or(HumanDuration::ZERO);
        check_range("for", for_, HumanDuration::ZERO, limits.max_for)?;
        let keep_firing_for = input.keep_firing_for.unwrap_or(HumanDuration::ZERO);
        check_range(
            "keep_firing_for",
            keep_firing_for,
            HumanDuration::ZERO,
            limits.max_for,
        )?;
        let labels = parse_labels(
            "labels",
            input.labels.unwrap_or_default(),
            MAX_LABELS,
            MAX_LABEL_VALUE_CHARS,
        )?;
        let annotations = parse_labels(
            "annotations",
            input.annotations.unwrap_or_default(),
            MAX_ANNOTATIONS,
            MAX_ANNOTATION_CHARS,
        )?;
        Ok(Self {
            name,
            description,
            metric,
            condition,
            interval: input.interval,
            for_,
            severity: input.severity.unwrap_or_default(),
            labels,
            annotations,
            enabled: input.enabled.unwrap_or(true),
            keep_firing_for,
            no_data: input.no_data.unwrap_or_default(),
            on_error: input.on_error.unwrap_or_default(),
            channels: parse_channels(input.channels.unwrap_or_default())?,
            cooldown: {
                let cooldown = input.cooldown.unwrap_or(HumanDuration::ZERO);
                check_range("cooldown", cooldown, HumanDuration::ZERO, limits.max_for)?;
                cooldown
            },
            repeat_interval: {
                let repeat = input.repeat_interval.unwrap_or(DEFAULT_REPEAT_INTERVAL);
                check_range(
                    "repeat_interval",
                    repeat,
                    HumanDuration::ZERO,
                    limits.max_for,
                )?;
                repeat
            },
            notify_on_resolve: input.notify_on_resolve.unwrap_or(true),
        })
    }
}

impl RuleSpec {
    /// One line a person (or a language model) can read at a glance:
    /// `last(crypto.price{symbol="BTC"}) over 5m > 70000 for 1m`.
    pub fn describe(&self) -> String {
        let metric = &self.metric;
        let mut out = format!(
            "{}({}.{}",
            metric.aggregation.as_str(),
            metric.measurement,
            metric.field
        );
        if !metric.tags.is_empty() {
            let tags: Vec<String> = metric
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            out.push_str(&format!("{{{}}}", tags.join(",")));
        }
        out.push_str(&format!(") over {}", metric.window));
        match (
            self.condition.kind,
            self.condition.op,
            self.condition.threshold,
        ) {
            (ConditionKind::Absence, _, _) => out = format!("no data: {out}"),
            (ConditionKind::PercentChange, Some(op), Some(threshold)) => {
                out.push_str(&format!(" change {op} {threshold}%"));
            }
            (_, Some(op), Some(threshold)) => out.push_str(&format!(" {op} {threshold}")),
            _ => {}
        }
        if !metric.group_by.is_empty() {
            out.push_str(&format!(" by {}", metric.group_by.join(",")));
        }
        if self.for_ > HumanDuration::ZERO {
            out.push_str(&format!(" for {}", self.for_));
        }
        out
    }
}

impl MetricQuery {
    fn parse(input: MetricInput, limits: &RuleLimits) -> Result<Self, FieldError> {
        check_identifier("measurement", &input.measurement)?;
        check_identifier("field", &input.field)?;
        let tags = input.tags.unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(FieldError::new(
                "tags",
                format!("at most {MAX_TAGS} tag filters"),
            ));
        }
        for (key, value) in &tags {
            check_identifier("tags", key)?;
            check_text(&format!("tags.{key}"), value, MAX_TAG_VALUE_CHARS)?;
        }
        if let Some(database) = &input.database {
            check_identifier("database", database)?;
        }
        let window = input.window.unwrap_or(DEFAULT_WINDOW);
        check_range(
            "window",
            window,
            HumanDuration::from_secs(1),
            limits.max_window,
        )?;
        let group_by = input.group_by.unwrap_or_default();
        if group_by.len() > MAX_GROUP_BY {
            return Err(FieldError::new(
                "group_by",
                format!("at most {MAX_GROUP_BY} tag keys"),
            ));
        }
        for (i, key) in group_by.iter().enumerate() {
            check_identifier(&format!("group_by[{i}]"), key)?;
            if group_by[..i].contains(key) {
                return Err(FieldError::new(
                    format!("group_by[{i}]"),
                    format!("\"{key}\" is listed twice"),
                ));
            }
        }
        Ok(Self {
            measurement: input.measurement,
            field: input.field,
            tags,
            database: input.database,
            aggregation: input.aggregation.unwrap_or_default(),
            window,
            group_by,
        })
    }
}

impl Condition {
    fn parse(input: ConditionInput) -> Result<Self, FieldError> {
        let kind = input.kind.unwrap_or_default();
        if kind == ConditionKind::Absence {
            for (field, given) in [
                ("op", input.op.is_some()),
                ("threshold", input.threshold.is_some()),
                ("recovery_threshold", input.recovery_threshold.is_some()),
            ] {
                if given {
                    return Err(FieldError::new(
                        field,
                        "is not used by an absence condition; leave it out",
                    ));
                }
            }
            return Ok(Self {
                kind,
                op: None,
                threshold: None,
                recovery_threshold: None,
            });
        }
        let op = input
            .op
            .ok_or_else(|| FieldError::new("op", "is required: one of >, >=, <, <=, ==, !="))?;
        let threshold = input
            .threshold
            .ok_or_else(|| FieldError::new("threshold", "is required: a number"))?;
        check_finite("threshold", threshold)?;
        if let Some(recovery) = input.recovery_threshold {
            check_finite("recovery_threshold", recovery)?;
            // Hysteresis only makes sense when recovery lies on the far side
            // of the threshold from the firing region.
            let consistent = match op {
                Comparator::Gt | Comparator::Ge => recovery <= threshold,
                Comparator::Lt | Comparator::Le => recovery >= threshold,
                Comparator::Eq | Comparator::Ne => false,
            };
            if !consistent {
                let reason = match op {
                    Comparator::Gt | Comparator::Ge => {
                        "must not be above threshold for a > or >= condition"
                    }
                    Comparator::Lt | Comparator::Le => {
                        "must not be below threshold for a < or <= condition"
                    }
                    Comparator::Eq | Comparator::Ne => "is only allowed with >, >=, < or <=",
                };
                return Err(FieldError::new("recovery_threshold", reason));
            }
        }
        Ok(Self {
            kind,
            op: Some(op),
            threshold: Some(threshold),
            recovery_threshold: input.recovery_threshold,
        })
    }

    /// Whether `value` is in the firing region. When the alert is already
    /// firing and a recovery threshold is set, the region extends to it.
    pub fn holds(&self, value: f64, firing: bool) -> bool {
        let (Some(op), Some(threshold)) = (self.op, self.threshold) else {
            return false;
        };
        match self.recovery_threshold {
            Some(recovery) if firing => op.holds(value, recovery) || op.holds(value, threshold),
            _ => op.holds(value, threshold),
        }
    }
}

fn check_finite(field: &str, value: f64) -> Result<(), FieldError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(FieldError::new(field, "must be a finite number"))
    }
}

fn check_range(
    field: &str,
    value: HumanDuration,
    min: HumanDuration,
    max: HumanDuration,
) -> Result<(), FieldError> {
    if value < min {
        return Err(FieldError::new(field, format!("must be at least {min}")));
    }
    if value > max {
        return Err(FieldError::new(field, format!("must be at most {max}")));
    }
    Ok(())
}

pub(crate) fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), FieldError> {
    // Count at most one past the limit, so a 10 MB string costs no more than a short one.
    if value.chars().take(max_chars + 1).count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Names that end up inside queries: non-empty, bounded, printable.
fn check_identifier(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().take(MAX_IDENTIFIER_CHARS + 1).count() > MAX_IDENTIFIER_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_IDENTIFIER_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Labels (or annotations, or silence matchers): bounded in number, keys
/// like identifiers, values printable and bounded.
pub fn parse_labels(
    field: &str,
    labels: BTreeMap<String, String>,
    max_entries: usize,
    max_value_chars: usize,
) -> Result<BTreeMap<String, String>, FieldError> {
    if labels.len() > max_entries {
        return Err(FieldError::new(
            field,
            format!("at most {max_entries} entries"),
        ));
    }
    for (key, value) in &labels {
        let valid_key = key.chars().take(MAX_LABEL_KEY_CHARS + 1).count() <= MAX_LABEL_KEY_CHARS
            && key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(FieldError::new(
                format!(
                    "{field}.{}",
                    key.chars().take(MAX_LABEL_KEY_CHARS).collect::<String>()
                ),
                format!(
                    "key must match [A-Za-z_][A-Za-z0-9_]* and be at most {MAX_LABEL_KEY_CHARS} characters"
                ),
            ));
        }
        check_text(&format!("{field}.{key}"), value, max_value_chars)?;
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<RuleSpec, FieldError> {
        let input: RuleInput = serde_json::from_value(value).expect("input shape");
        RuleSpec::parse(input, &RuleLimits::default())
    }

    fn minimal() -> serde_json::Value {
        json!({
            "name": "BTC above 70k",
            "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": "BTC"}},
            "condition": {"op": ">", "threshold": 70000},
            "interval": "10s"
        })
    }

    #[test]
    fn minimal_rule_gets_defaults() {
        let spec = parse(minimal()).unwrap();
        assert_eq!(spec.metric.aggregation, Aggregation::Last);
        assert_eq!(spec.metric.window, HumanDuration::from_secs(300));
        assert_eq!(spec.for_, HumanDuration::ZERO);
        assert_eq!(spec.severity, Severity::Warning);
        assert!(spec.enabled);
        let shown = serde_json::to_value(&spec).unwrap();
        assert_eq!(shown["metric"]["window"], "5m");
        assert_eq!(shown["for"], "0s");
        assert_eq!(shown["condition"]["op"], ">");
    }

    #[test]
    fn describes_itself_in_one_line() {
        let mut v = minimal();
        v["for"] = json!("1m");
        v["metric"]["group_by"] = json!(["venue"]);
        assert_eq!(
            parse(v).unwrap().describe(),
            r#"last(crypto.price{symbol="BTC"}) over 5m > 70000 by venue for 1m"#
        );
    }

    #[test]
    fn serialized_spec_parses_back_to_itself() {
        let spec = parse(minimal()).unwrap();
        let again = parse(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(spec, again);
    }

    #[test]
    fn errors_name_the_field() {
        let mut v = minimal();
        v["interval"] = json!("1s");
        assert_eq!(
            parse(v).unwrap_err().to_string(),
            "interval: must be at least 10s"
        );

        let mut v = minimal();
        v["name"] = json!("x".repeat(10_000_000));
        assert_eq!(parse(v).unwrap_err().field, "name");

        let mut v = minimal();
        v["metric"]["measurement"] = json!("");
        assert_eq!(
            parse(v).unwrap_err().to_string(),
            "metric.measurement: must not be empty"
        );

        let mut v = minimal();
        v["condition"]["recovery_threshold"] = json!(71000);
        assert_eq!(parse(v).unwrap_err().field, "condition.recovery_threshold");

        let mut v = minimal();
        v["labels"] = json!({"bad key": "x"});
        assert_eq!(parse(v).unwrap_err().field, "labels.bad key");

        let mut v = minimal();
        v["metric"]["group_by"] = json!(["symbol", "symbol"]);
        assert_eq!(parse(v).unwrap_err().field, "metric.group_by[1]");
    }

    #[test]
    fn condition_kinds_take_what_they_need() {
        let mut v = minimal();
        v["condition"] = json!({"kind": "absence"});
        let spec = parse(v).unwrap();
        assert_eq!(spec.condition.kind, ConditionKind::Absence);
        assert_eq!(
            spec.describe(),
            r#"no data: last(crypto.price{symbol="BTC"}) over 5m"#
        );

        let mut v = minimal();
        v["condition"] = json!({"kind": "absence", "threshold": 3});
        assert_eq!(parse(v).unwrap_err().field, "condition.threshold");

        let mut v = minimal();
        v["condition"] = json!({"kind": "percent_change", "op": "<", "threshold": -5});
        v["metric"]["window"] = json!("1h");
        assert_eq!(
            parse(v).unwrap().describe(),
            r#"last(crypto.price{symbol="BTC"}) over 1h change < -5%"#
        );

        let mut v = minimal();
        v["condition"] = json!({"threshold": 3});
        assert_eq!(
            parse(v).unwrap_err().to_string(),
            "condition.op: is required: one of >, >=, <, <=, ==, !="
        );
    }

    #[test]
    fn hysteresis_widens_the_firing_region_only_while_firing() {
        let mut v = minimal();
        v["condition"]["recovery_threshold"] = json!(69000);
        let condition = parse(v).unwrap().condition;
        assert!(!condition.holds(69500.0, false));
        assert!(condition.holds(69500.0, true));
        assert!(!condition.holds(68000.0, true));
        assert!(condition.holds(71000.0, false));
    }

    #[test]
    fn infinite_threshold_is_refused() {
        let input = ConditionInput {
            kind: None,
            op: Some(Comparator::Gt),
            threshold: Some(f64::INFINITY),
            recovery_threshold: None,
        };
        assert_eq!(
            Condition::parse(input).unwrap_err().to_string(),
            "threshold: must be a finite number"
        );
    }
}
