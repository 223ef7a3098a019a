//! Evaluating a draft rule without storing anything: its state now, and a
//! backtest over a past range, both through the same planner and state
//! machine that live evaluation uses.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;
use shared_models::{series::series_key, time::Timestamp};

use super::{
    plan::{Labels, first_error, observations, queries_for},
    rules::{LoadedRule, aligned_tick},
    state::{Observation, SeriesState, Transition, step},
};
use crate::source::MetricSource;

/// At most this many evaluations per backtest, to bound its cost.
pub const MAX_BACKTEST_TICKS: i64 = 1_000;

#[derive(Debug, Clone, Serialize, PartialEq, JsonSchema)]
pub struct SeriesPreview {
    pub labels: Labels,
    /// The value the rule would compare; absent when there is no data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The state a new rule would enter now: normal, pending, firing, no_data or error.
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, JsonSchema)]
pub struct PreviewResult {
    pub series: Vec<SeriesPreview>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn preview_now(
    source: &dyn MetricSource,
    rule: &LoadedRule,
    now: Timestamp,
) -> PreviewResult {
    let queries = queries_for(rule);
    let answers = source.query(&queries, now.to_datetime()).await;
    let answers: Vec<_> = answers.iter().collect();
    let error = first_error(&answers).map(ToString::to_string);
    let series = observations(rule, &answers, &BTreeSet::new())
        .into_iter()
        .map(|(labels, observation)| {
            let (next, _) = step(&SeriesState::default(), observation, &rule.spec, now);
            SeriesPreview {
                labels,
                value: match observation {
                    Observation::Value(v) => Some(v),
                    _ => None,
                },
                state: next.phase.as_str(),
            }
        })
        .collect();
    PreviewResult { series, error }
}

/// One firing episode found by a backtest.
#[derive(Debug, Clone, Serialize, PartialEq, JsonSchema)]
pub struct Episode {
    pub labels: Labels,
    pub fired_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Absent when still firing at the end of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, JsonSchema)]
pub struct Backtest {
    pub evaluations: i64,
    pub episodes: Vec<Episode>,
    /// Evaluations whose query failed (they held state, as live ones do).
    pub failed_evaluations: i64,
}

/// Replays the rule on its aligned ticks from `from` to `to` (both epoch ms).
pub async fn backtest(
    source: &dyn MetricSource,
    rule: &LoadedRule,
    from: i64,
    to: i64,
) -> Backtest {
    let interval = rule.interval();
    let (from, to) = (Timestamp::from_millis(from), Timestamp::from_millis(to));
    let queries = queries_for(rule);
    let mut states: BTreeMap<String, (Labels, SeriesState)> = BTreeMap::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut episodes: Vec<Episode> = Vec::new();
    let mut evaluations = 0;
    let mut failed_evaluations = 0;
    let mut tick = aligned_tick(from, interval);
    if tick < from {
        tick += interval;
    }
    while tick <= to && evaluations < MAX_BACKTEST_TICKS {
        let at = tick;
        let answers = source.query(&queries, at.to_datetime()).await;
        let answers: Vec<_> = answers.iter().collect();
        failed_evaluations += i64::from(first_error(&answers).is_some());
        let known: BTreeSet<Labels> = states.values().map(|(l, _)| l.clone()).collect();
        for (labels, observation) in observations(rule, &answers, &known) {
            let key = series_key(&labels);
            let prev = states.get(&key).map(|(_, s)| s.clone()).unwrap_or_default();
            let (next, transition) = step(&prev, observation, &rule.spec, at);
            let stamp = at.to_string();
            match transition {
                Some(Transition::Fired { value }) => {
                    open.insert(key.clone(), episodes.len());
                    episodes.push(Episode {
                        labels: labels.clone(),
                        fired_at: stamp,
                        value,
                        resolved_at: None,
                    });
                }
                Some(Transition::Resolved { .. }) => {
                    if let Some(index) = open.remove(&key) {
                        episodes[index].resolved_at = Some(stamp);
                    }
                }
                None => {}
            }
            states.insert(key, (labels, next));
        }
        evaluations += 1;
        tick += interval;
    }
    Backtest {
        evaluations,
        episodes,
        failed_evaluations,
    }
}
