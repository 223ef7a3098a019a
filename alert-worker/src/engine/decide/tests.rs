//! Properties of the per-series state machine, driven through
//! [`decide_series`] the way the engine drives it: the state read back at
//! each evaluation is the one last written, and a state is written only
//! when the decision says so.
//!
//! The oracle below judges each observation from the rule's definition
//! (comparisons against the thresholds, the documented policies), not with
//! `Condition::holds` or `step`, so that it does not share their mistakes.

use proptest::prelude::*;
use serde_json::json;
use shared_models::{
    ids::{ChannelId, RuleId, UserId},
    rule::{Comparator, ErrorPolicy, NoDataPolicy, RuleInput, RuleLimits, RuleSpec},
    shard::Shard,
    time::Timestamp,
};

use super::*;
use crate::engine::state::Phase;

const OPS: [Comparator; 6] = [
    Comparator::Gt,
    Comparator::Ge,
    Comparator::Lt,
    Comparator::Le,
    Comparator::Eq,
    Comparator::Ne,
];
const NO_DATA: [NoDataPolicy; 4] = [
    NoDataPolicy::Ok,
    NoDataPolicy::Alerting,
    NoDataPolicy::NoData,
    NoDataPolicy::KeepLast,
];
const ON_ERROR: [ErrorPolicy; 3] = [
    ErrorPolicy::Error,
    ErrorPolicy::KeepLast,
    ErrorPolicy::Alerting,
];

#[derive(Debug, Clone)]
struct Case {
    op: Comparator,
    threshold: f64,
    recovery: Option<f64>,
    for_ms: i64,
    keep_firing_ms: i64,
    no_data: NoDataPolicy,
    on_error: ErrorPolicy,
    grouped: bool,
    channels: bool,
}

impl Case {
    fn rule(&self) -> LoadedRule {
        let mut condition = json!({"op": self.op.as_str(), "threshold": self.threshold});
        if let Some(recovery) = self.recovery {
            condition["recovery_threshold"] = json!(recovery);
        }
        let channels: Vec<String> = if self.channels {
            vec![ChannelId::generate().to_string()]
        } else {
            Vec::new()
        };
        let group_by: &[&str] = if self.grouped { &["host"] } else { &[] };
        let input: RuleInput = serde_json::from_value(json!({
            "name": "r",
            "metric": {"measurement": "m", "field": "f", "group_by": group_by},
            "condition": condition,
            "interval": "10s",
            "for": format!("{}ms", self.for_ms),
            "keep_firing_for": format!("{}ms", self.keep_firing_ms),
            "no_data": self.no_data,
            "on_error": self.on_error,
            "channels": channels,
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

    /// Whether `observation` puts the series in the firing region: `None`
    /// when its policy leaves the series as it was.
    fn fires_on(&self, observation: Observation) -> Option<bool> {
        match observation {
            Observation::Value(v) => Some(compare(self.op, v, self.threshold)),
            Observation::NoData => self.no_data_holds(),
            Observation::QueryFailed => self.error_holds(),
        }
    }

    /// Whether `observation` meets the recovery condition of an open
    /// alert: past the recovery threshold when there is one, else out of
    /// the firing region. `None` as for [`Case::fires_on`].
    fn recovers_on(&self, observation: Observation) -> Option<bool> {
        match observation {
            Observation::Value(v) => Some(!compare(
                self.op,
                v,
                self.recovery.unwrap_or(self.threshold),
            )),
            Observation::NoData => self.no_data_holds().map(|holds| !holds),
            Observation::QueryFailed => self.error_holds().map(|holds| !holds),
        }
    }

    fn no_data_holds(&self) -> Option<bool> {
        match self.no_data {
            NoDataPolicy::Alerting => Some(true),
            NoDataPolicy::Ok => Some(false),
            NoDataPolicy::NoData | NoDataPolicy::KeepLast => None,
        }
    }

    fn error_holds(&self) -> Option<bool> {
        match self.on_error {
            ErrorPolicy::Alerting => Some(true),
            ErrorPolicy::Error | ErrorPolicy::KeepLast => None,
        }
    }
}

fn compare(op: Comparator, value: f64, line: f64) -> bool {
    match op {
        Comparator::Gt => value > line,
        Comparator::Ge => value >= line,
        Comparator::Lt => value < line,
        Comparator::Le => value <= line,
        Comparator::Eq => value == line,
        Comparator::Ne => value != line,
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (0..OPS.len(), -3i32..=3, proptest::option::of(0i32..=4)),
        // Zero often, as most rules have it.
        (
            prop_oneof![Just(0i64), 1i64..=60_000],
            prop_oneof![Just(0i64), 1i64..=60_000],
        ),
        (0..NO_DATA.len(), 0..ON_ERROR.len()),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (op, threshold, recovery),
                (for_ms, keep),
                (no_data, on_error),
                (grouped, channels),
            )| {
                let op = OPS[op];
                let threshold = f64::from(threshold);
                // A recovery threshold lies on the far side of the threshold
                // from the firing region, and only ordered comparisons have one.
                let recovery = recovery.and_then(|gap| match op {
                    Comparator::Gt | Comparator::Ge => Some(threshold - f64::from(gap)),
                    Comparator::Lt | Comparator::Le => Some(threshold + f64::from(gap)),
                    Comparator::Eq | Comparator::Ne => None,
                });
                Case {
                    op,
                    threshold,
                    recovery,
                    for_ms,
                    keep_firing_ms: keep,
                    no_data: NO_DATA[no_data],
                    on_error: ON_ERROR[on_error],
                    grouped,
                    channels,
                }
            },
        )
}

/// Observations with strictly increasing times: gaps of up to 15 s, so that
/// runs both shorter and longer than `for` and `keep_firing_for` occur.
fn observations() -> impl Strategy<Value = Vec<(Observation, i64)>> {
    let observation = prop_oneof![
        6 => (-6i32..=6).prop_map(|v| Observation::Value(f64::from(v) / 2.0)),
        1 => Just(Observation::NoData),
        1 => Just(Observation::QueryFailed),
    ];
    proptest::collection::vec((observation, 1i64..=15_000), 0..40).prop_map(|steps| {
        let mut at = 1_767_225_600_000;
        steps
            .into_iter()
            .map(|(observation, gap)| {
                at += gap;
                (observation, at)
            })
            .collect()
    })
}

/// One evaluation as the engine saw it.
struct Step {
    observation: Observation,
    at: i64,
    read: SeriesState,
    decision: SeriesDecision,
}

/// Evaluates `observations` in order, writing a state back only when the
/// decision asks for it, with an alert id minted on each firing as the
/// engine mints one.
fn run(rule: &LoadedRule, observations: &[(Observation, i64)]) -> Vec<Step> {
    let labels = if rule.spec.metric.group_by.is_empty() {
        Labels::new()
    } else {
        Labels::from([("host".to_owned(), "a".to_owned())])
    };
    let mut stored: Option<SeriesState> = None;
    let mut steps = Vec::with_capacity(observations.len());
    for (n, &(observation, at)) in observations.iter().enumerate() {
        let decision = decide_series(
            rule,
            &labels,
            stored.as_ref(),
            observation,
            &[],
            Timestamp::from_millis(at),
        );
        if decision.changed || decision.transition.is_some() {
            let mut next = decision.next.clone();
            if matches!(decision.transition, Some(Transition::Fired { .. })) {
                next.alert_id = Some(format!("alert-{n}"));
            }
            steps.push(Step {
                observation,
                at,
                read: stored.replace(next).unwrap_or_default(),
                decision,
            });
        } else {
            steps.push(Step {
                observation,
                at,
                read: stored.clone().unwrap_or_default(),
                decision,
            });
        }
    }
    steps
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// An alert fires only on an observation in the firing region, and only
    /// once the series has been in it for `for`: since an observation at
    /// least `for` earlier, with none out of it in between (observations
    /// whose policy leaves the series as it was neither start nor break
    /// the run).
    #[test]
    fn nothing_fires_before_the_condition_held_for_its_duration(
        case in case(),
        observations in observations(),
    ) {
        let rule = case.rule();
        let mut run_since: Option<i64> = None;
        let mut open = false;
        for step in run(&rule, &observations) {
            match case.fires_on(step.observation) {
                Some(true) => {
                    run_since.get_or_insert(step.at);
                }
                Some(false) => run_since = None,
                None => {}
            }
            match step.decision.transition {
                Some(Transition::Fired { .. }) => {
                    prop_assert!(!open, "fired again at {} while firing", step.at);
                    prop_assert_eq!(case.fires_on(step.observation), Some(true));
                    let since = run_since.expect("fired without the condition holding");
                    prop_assert!(
                        step.at - since >= case.for_ms,
                        "fired at {} after holding since {} (for {} ms)",
                        step.at, since, case.for_ms
                    );
                    open = true;
                }
                Some(Transition::Resolved { .. }) => open = false,
                None => {}
            }
        }
    }

    /// A firing alert resolves only on an observation that meets the
    /// recovery condition (past `recovery_threshold` if set), and only once
    /// every observation for `keep_firing_for` has met it.
    #[test]
    fn nothing_resolves_while_the_recovery_condition_is_unmet(
        case in case(),
        observations in observations(),
    ) {
        let rule = case.rule();
        let mut open = false;
        let mut clear_since: Option<i64> = None;
        for step in run(&rule, &observations) {
            if open {
                match case.recovers_on(step.observation) {
                    Some(true) => {
                        clear_since.get_or_insert(step.at);
                    }
                    Some(false) => clear_since = None,
                    None => {}
                }
            }
            match step.decision.transition {
                Some(Transition::Resolved { .. }) => {
                    prop_assert!(open, "resolved at {} with no alert open", step.at);
                    prop_assert_eq!(case.recovers_on(step.observation), Some(true));
                    let since = clear_since.expect("resolved without recovering");
                    prop_assert!(
                        step.at - since >= case.keep_firing_ms,
                        "resolved at {} after recovering at {} (keep_firing_for {} ms)",
                        step.at, since, case.keep_firing_ms
                    );
                    open = false;
                    clear_since = None;
                }
                Some(Transition::Fired { .. }) => open = true,
                None => {}
            }
        }
    }

    /// Under the `error` and `keep_last` policies a failed query leaves the
    /// series as it was: no transition, no timer or alert moved, only the
    /// phase shows the error (under `error`). So removing the failures from
    /// the sequence changes no transition of the rest. (Under `alerting` a
    /// failure counts as the condition holding, and may fire.)
    #[test]
    fn a_failed_query_neither_fires_nor_resolves(
        case in case(),
        observations in observations(),
        keep_last in any::<bool>(),
    ) {
        let case = Case {
            on_error: if keep_last { ErrorPolicy::KeepLast } else { ErrorPolicy::Error },
            ..case
        };
        let rule = case.rule();
        let steps = run(&rule, &observations);
        let moved = |s: &SeriesState| {
            (s.pending_since, s.firing_since, s.clear_since, s.alert_id.clone(), s.last_value, s.last_seen_at)
        };
        for step in steps.iter().filter(|s| s.observation == Observation::QueryFailed) {
            let next = &step.decision.next;
            prop_assert_eq!(step.decision.transition, None, "at {}", step.at);
            prop_assert_eq!(moved(next), moved(&step.read), "at {}", step.at);
            let phase = if keep_last { step.read.phase } else { Phase::Error };
            prop_assert_eq!(next.phase, phase);
            if let Some(verdict) = &step.decision.verdict {
                prop_assert!(!verdict.event.is_resolution(), "resolution sent at {}", step.at);
            }
        }
        let without: Vec<_> = observations
            .iter()
            .copied()
            .filter(|(o, _)| *o != Observation::QueryFailed)
            .collect();
        let with: Vec<_> = steps
            .iter()
            .filter(|s| s.observation != Observation::QueryFailed)
            .map(|s| s.decision.transition)
            .collect();
        let alone: Vec<_> = run(&rule, &without).iter().map(|s| s.decision.transition).collect();
        prop_assert_eq!(with, alone);
    }
}

#[test]
fn a_new_series_is_written_only_if_it_is_news() {
    let ungrouped = Case {
        op: Comparator::Gt,
        threshold: 1.0,
        recovery: None,
        for_ms: 0,
        keep_firing_ms: 0,
        no_data: NoDataPolicy::NoData,
        on_error: ErrorPolicy::Error,
        grouped: false,
        channels: false,
    };
    let grouped = Case {
        grouped: true,
        ..ungrouped.clone()
    };
    let decide = |case: &Case, previous: Option<&SeriesState>, value: f64| {
        decide_series(
            &case.rule(),
            &Labels::new(),
            previous,
            Observation::Value(value),
            &[],
            Timestamp::from_millis(10_000),
        )
    };
    assert!(!decide(&ungrouped, None, 0.0).changed);
    assert!(decide(&ungrouped, None, 2.0).changed);
    assert!(decide(&grouped, None, 0.0).changed);
    // A stored normal series whose value moved is not rewritten.
    let stored = SeriesState {
        last_value: Some(-5.0),
        ..SeriesState::default()
    };
    assert!(!decide(&grouped, Some(&stored), 0.0).changed);
}
