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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_models::{
        ids::{RuleId, UserId},
        rule::{RuleInput, RuleLimits, RuleSpec},
        shard::Shard,
        time::Timestamp,
    };

    use super::*;

    fn rule(condition: serde_json::Value, group_by: &[&str]) -> LoadedRule {
        let input: RuleInput = serde_json::from_value(json!({
            "name": "r",
            "metric": {"measurement": "m", "field": "f", "group_by": group_by},
            "condition": condition,
            "interval": "10s"
        }))
        .unwrap();
        LoadedRule {
            id: RuleId::generate(),
            owner: UserId::generate(),
            version: 1,
            shard: Shard::FIRST,
            spec: RuleSpec::parse(input, &RuleLimits::default()).unwrap(),
            next_due: Timestamp::EPOCH,
        }
    }

    fn series(host: &str, value: f64) -> SeriesValue {
        SeriesValue {
            labels: BTreeMap::from([("host".to_owned(), host.to_owned())]),
            value,
        }
    }

    fn labels(host: &str) -> Labels {
        BTreeMap::from([("host".to_owned(), host.to_owned())])
    }

    #[test]
    fn percent_change_compares_last_with_first() {
        let r = rule(
            json!({"kind": "percent_change", "op": "<", "threshold": -5}),
            &["host"],
        );
        let queries = queries_for(&r);
        assert_eq!(queries.len(), 2);
        assert_eq!(queries[0].reduce, Reduce::First);
        let first = Ok(vec![
            series("a", 100.0),
            series("b", 0.0),
            series("c", 50.0),
        ]);
        let last = Ok(vec![series("a", 90.0), series("b", 5.0)]);
        let observed = observations(&r, &[&first, &last], &BTreeSet::new());
        // a dropped 10%; b starts at zero (no defined change); c has no last value.
        assert_eq!(observed, vec![(labels("a"), Observation::Value(-10.0))]);
    }

    #[test]
    fn known_series_missing_from_the_answer_have_no_data() {
        let r = rule(json!({"op": ">", "threshold": 1}), &["host"]);
        let answer = Ok(vec![series("a", 2.0)]);
        let known = BTreeSet::from([labels("a"), labels("gone")]);
        let observed = observations(&r, &[&answer], &known);
        assert_eq!(
            observed,
            vec![
                (labels("a"), Observation::Value(2.0)),
                (labels("gone"), Observation::NoData)
            ]
        );
    }

    #[test]
    fn absence_counts_points_and_an_ungrouped_rule_always_has_its_series() {
        let r = rule(json!({"kind": "absence"}), &[]);
        assert_eq!(queries_for(&r)[0].reduce, Reduce::Rule(Aggregation::Count));
        let empty = Ok(vec![]);
        assert_eq!(
            observations(&r, &[&empty], &BTreeSet::new()),
            vec![(Labels::new(), Observation::NoData)]
        );
        let some = Ok(vec![SeriesValue {
            labels: Labels::new(),
            value: 3.0,
        }]);
        assert_eq!(
            observations(&r, &[&some], &BTreeSet::new()),
            vec![(Labels::new(), Observation::Value(3.0))]
        );
    }

    #[test]
    fn a_failed_query_reaches_every_series() {
        let r = rule(json!({"op": ">", "threshold": 1}), &["host"]);
        let failed = Err(SourceError::Timeout(std::time::Duration::from_secs(10)));
        let known = BTreeSet::from([labels("a"), labels("b")]);
        let observed = observations(&r, &[&failed], &known);
        assert!(observed.iter().all(|(_, o)| *o == Observation::QueryFailed));
        assert_eq!(observed.len(), 2);
    }
}
