//! Whether a rule would see any points now, and if not, why: a misspelled
//! measurement, field, tag or tag value, or a metric that is real but quiet.
//! A rule that can never fire otherwise sits in `no_data` without a word;
//! this names what does exist nearby, so the caller can correct it at once.

use shared_models::{
    rule::{ConditionKind, MetricQuery},
    time::Timestamp,
};

use super::{plan::queries_for, rules::LoadedRule};
use crate::source::{CatalogRequest, MeasurementInfo, MetricSource};

/// How many names a warning suggests.
const SUGGESTIONS: usize = 5;
/// Measurements read to find the nearest names to a missing one.
const NAMES_SCANNED: usize = 1_000;
/// Tag values read per key to tell a missing value from a quiet one.
const VALUES_SCANNED: usize = 100;

/// `None` when the rule would read points now; otherwise a warning naming
/// the argument at fault and what exists instead, in plain words.
pub async fn missing_data(
    source: &dyn MetricSource,
    rule: &LoadedRule,
    now: Timestamp,
) -> Option<String> {
    let queries = queries_for(rule);
    let first = source.query(&queries[..1], now.to_datetime()).await.pop()?;
    match first {
        Ok(series) if !series.is_empty() => None,
        Ok(_) => why_no_points(source, rule).await,
        Err(error) => Some(format!(
            "could not check that the metric has points: the metric source failed ({error})"
        )),
    }
}

/// For a rule already seen to read no points (a preview has asked the
/// source): the argument at fault and what exists instead, or that the
/// metric is quiet. `None` for an absence rule on a quiet metric.
pub async fn why_no_points(source: &dyn MetricSource, rule: &LoadedRule) -> Option<String> {
    let metric = &rule.spec.metric;
    let described = source
        .catalog(&CatalogRequest {
            owner: rule.owner,
            database: metric.database.clone(),
            prefix: Some(metric.measurement.clone()),
            // Names that extend this one come first in the listing too.
            measurements_limit: 20,
            values_limit: VALUES_SCANNED,
            describe: true,
        })
        .await;
    let found = match described {
        Ok(catalog) => catalog
            .measurements
            .into_iter()
            .find(|m| m.name == metric.measurement),
        Err(error) => {
            return Some(format!(
                "could not check why the metric has no points: the metric source failed ({error})"
            ));
        }
    };
    match found {
        Some(measurement) => what_is_missing(metric, &measurement)
            .or_else(|| quiet(metric, rule.spec.condition.kind)),
        None => Some(missing_measurement(source, rule, metric).await),
    }
}

/// The field, tag key or tag value of `metric` that `measurement` lacks.
fn what_is_missing(metric: &MetricQuery, measurement: &MeasurementInfo) -> Option<String> {
    let name = &metric.measurement;
    if !measurement.fields.contains(&metric.field) {
        return Some(format!(
            "metric.field: measurement {name:?} has no field {:?}; {}",
            metric.field,
            choices("its fields", &metric.field, &measurement.fields)
        ));
    }
    for (key, value) in &metric.tags {
        let Some(values) = measurement.tags.get(key) else {
            let keys: Vec<String> = measurement.tags.keys().cloned().collect();
            return Some(format!(
                "metric.tags.{key}: measurement {name:?} has no tag {key:?}; {}",
                choices("its tags", key, &keys)
            ));
        };
        // A key with more values than were read may hold this one.
        if !values.contains(value) && !measurement.more_tag_values.contains(key) {
            return Some(format!(
                "metric.tags.{key}: no series of {name:?} has {key}={value:?}; {}",
                choices(&format!("the values of {key}"), value, values)
            ));
        }
    }
    None
}

/// Every name is right, but no point is in the window. Expected for an
/// absence rule (it fires on exactly that), worth saying for the others.
fn quiet(metric: &MetricQuery, kind: ConditionKind) -> Option<String> {
    (kind != ConditionKind::Absence).then(|| {
        format!(
            "metric.window: {:?}.{:?} with these tags has no points in the last {}, so the rule \
             stays no_data until points arrive; check that they are still being written, or \
             lengthen the window",
            metric.measurement, metric.field, metric.window
        )
    })
}

async fn missing_measurement(
    source: &dyn MetricSource,
    rule: &LoadedRule,
    metric: &MetricQuery,
) -> String {
    let database = match &metric.database {
        Some(database) => format!("database {database:?}"),
        None => "the default database".to_owned(),
    };
    let listed = source
        .catalog(&CatalogRequest {
            owner: rule.owner,
            database: metric.database.clone(),
            prefix: None,
            measurements_limit: NAMES_SCANNED,
            values_limit: 0,
            describe: false,
        })
        .await;
    let names: Vec<String> = match listed {
        Ok(catalog) => catalog.measurements.into_iter().map(|m| m.name).collect(),
        Err(error) => {
            return format!(
                "metric.measurement: {database} has no measurement {:?}, and listing the others \
                 failed ({error})",
                metric.measurement
            );
        }
    };
    if names.is_empty() {
        return format!(
            "metric.measurement: {database} has no measurements at all yet, so the rule stays \
             no_data until points of {:?} are written",
            metric.measurement
        );
    }
    format!(
        "metric.measurement: {database} has no measurement {:?}; {}",
        metric.measurement,
        choices("the nearest are", &metric.measurement, &names)
    )
}

/// `"<what>: "a", "b"` with the candidates nearest to `wanted` first, or
/// that there are none.
fn choices(what: &str, wanted: &str, candidates: &[String]) -> String {
    if candidates.is_empty() {
        return format!("{what}: none");
    }
    let listed: Vec<String> = nearest(wanted, candidates)
        .into_iter()
        .map(|name| format!("{name:?}"))
        .collect();
    format!("{what}: {}", listed.join(", "))
}

/// The few candidates most like `wanted`, ignoring case; ties keep the
/// candidates' order.
fn nearest<'a>(wanted: &str, candidates: &'a [String]) -> Vec<&'a str> {
    let wanted = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .iter()
        .map(|name| {
            let score = strsim::normalized_damerau_levenshtein(&wanted, &name.to_lowercase());
            (score, name.as_str())
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_nearest_names_come_first() {
        let candidates = names(&[
            "mem",
            "cpu",
            "crypto",
            "crypto.price",
            "Crypto.Prise",
            "disk",
        ]);
        assert_eq!(
            nearest("crypto.prce", &candidates)[..2],
            ["crypto.price", "Crypto.Prise"]
        );
        assert_eq!(nearest("x", &candidates).len(), SUGGESTIONS);
        assert_eq!(
            choices("its fields", "x", &[]),
            "its fields: none",
            "an empty list says so"
        );
    }
}
