//! From rules to source queries, and from answers back to one observation
//! per series of each rule.

use std::collections::{BTreeMap, BTreeSet};

use shared_models::rule::{Aggregation, ConditionKind};

use super::{rules::LoadedRule, state::Observation};
use crate::source::{Reduce, SeriesQuery, SeriesValue, SourceError};

/// The queries one rule needs: one, or two (first and last) for a
/// percent-change condition.
pub fn queries_for(rule: &LoadedRule) -> Vec<SeriesQuery> {
    let metric = &rule.spec.metric;
    let query = |reduce| SeriesQuery {
        owner: rule.owner,
        database: metric.database.clone(),
        measurement: metric.measurement.clone(),
        field: metric.field.clone(),
        tags: metric.tags.clone(),
        reduce,
        window: metric.window.as_duration(),
        group_by: metric.group_by.clone(),
    };
    match rule.spec.condition.kind {
        ConditionKind::Threshold => vec![query(Reduce::Rule(metric.aggregation))],
        ConditionKind::PercentChange => {
            vec![query(Reduce::First), query(Reduce::Rule(Aggregation::Last))]
        }
        ConditionKind::Absence => vec![query(Reduce::Rule(Aggregation::Count))],
    }
}

pub type Labels = BTreeMap<String, String>;

/// One observation per series: every series the answer holds, plus every
/// series already known from state that the answer lacks (no data). A rule
/// without `group_by` always has its one unlabelled series.
pub fn observations(
    rule: &LoadedRule,
    answers: &[&Result<Vec<SeriesValue>, SourceError>],
    known: &BTreeSet<Labels>,
) -> Vec<(Labels, Observation)> {
    let mut series: BTreeSet<Labels> = known.clone();
    if rule.spec.metric.group_by.is_empty() {
        series.insert(Labels::new());
    }
    // A failed query says nothing about any series: each one sees the
    // failure (the caller reports the error itself in rule health).
    if first_error(answers).is_some() {
        return series
            .into_iter()
            .map(|l| (l, Observation::QueryFailed))
            .collect();
    }
    let values: BTreeMap<Labels, f64> = match (rule.spec.condition.kind, answers) {
        (ConditionKind::PercentChange, [Ok(first), Ok(last)]) => {
            let first: BTreeMap<&Labels, f64> =
                first.iter().map(|s| (&s.labels, s.value)).collect();
            last.iter()
                .filter_map(|s| {
                    let base = *first.get(&s.labels)?;
                    (base != 0.0).then(|| (s.labels.clone(), (s.value - base) / base.abs() * 100.0))
                })
                .collect()
        }
        (ConditionKind::Absence, [Ok(counts)]) => counts
            .iter()
            .filter(|s| s.value > 0.0)
            .map(|s| (s.labels.clone(), s.value))
            .collect(),
        (_, [Ok(values), ..]) => values.iter().map(|s| (s.labels.clone(), s.value)).collect(),
        _ => BTreeMap::new(),
    };
    series.extend(values.keys().cloned());
    series
        .into_iter()
        .map(|labels| {
            let observation = match values.get(&labels) {
                Some(value) if value.is_finite() => Observation::Value(*value),
                _ => Observation::NoData,
            };
            (labels, observation)
        })
        .collect()
}

/// The first query error among a rule's answers, for rule health.
pub fn first_error<'a>(
    answers: &[&'a Result<Vec<SeriesValue>, SourceError>],
) -> Option<&'a SourceError> {
    answers.iter().find_map(|a| a.as_ref().err())
}
