//! The per-series state machine: a pure function from the previous state
//! and one observation to the next state and the transition to record.

use shared_models::{
    rule::{ConditionKind, ErrorPolicy, NoDataPolicy, RuleSpec},
    time::Timestamp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Normal,
    /// The condition holds but `for` has not yet elapsed.
    Pending,
    Firing,
    /// No data, held under the `no_data` policy.
    NoData,
    /// The query failed, held under the `error` policy.
    Error,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::NoData => "no_data",
            Self::Error => "error",
        }
    }

    /// How much a phase needs attention, to summarise a rule by its worst series.
    pub fn urgency(self) -> u8 {
        match self {
            Self::Firing => 4,
            Self::Pending => 3,
            Self::Error => 2,
            Self::NoData => 1,
            Self::Normal => 0,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Normal,
            Self::Pending,
            Self::Firing,
            Self::NoData,
            Self::Error,
        ]
        .into_iter()
        .find(|p| p.as_str() == raw)
    }
}

/// Everything about one series that must survive a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesState {
    pub phase: Phase,
    /// When the condition started holding (pending, then firing).
    pub pending_since: Option<Timestamp>,
    pub firing_since: Option<Timestamp>,
    /// While firing: when the condition stopped holding (keep_firing_for).
    pub clear_since: Option<Timestamp>,
    pub last_value: Option<f64>,
    pub last_seen_at: Option<Timestamp>,
    /// The open alert record while firing.
    pub alert_id: Option<String>,
    /// When this series last sent a notification.
    pub last_notified_at: Option<Timestamp>,
}

impl SeriesState {
    /// Whether an alert is open, including while held in no_data or error.
    pub fn alerting(&self) -> bool {
        self.firing_since.is_some()
    }
}

impl Default for SeriesState {
    fn default() -> Self {
        Self {
            phase: Phase::Normal,
            pending_since: None,
            firing_since: None,
            clear_since: None,
            last_value: None,
            last_seen_at: None,
            alert_id: None,
            last_notified_at: None,
        }
    }
}

/// What one evaluation saw for one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    Value(f64),
    NoData,
    QueryFailed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    Fired { value: Option<f64> },
    Resolved { value: Option<f64> },
}

/// Advances one series by one evaluation at `now`.
pub fn step(
    prev: &SeriesState,
    observation: Observation,
    rule: &RuleSpec,
    now: Timestamp,
) -> (SeriesState, Option<Transition>) {
    let mut next = prev.clone();
    let holds = match observation {
        Observation::Value(value) => {
            next.last_value = Some(value);
            next.last_seen_at = Some(now);
            match rule.condition.kind {
                // A value is present, so the series is not absent.
                ConditionKind::Absence => Some(false),
                _ => Some(rule.condition.holds(value, prev.alerting())),
            }
        }
        Observation::NoData => match (rule.condition.kind, rule.no_data) {
            (ConditionKind::Absence, _) | (_, NoDataPolicy::Alerting) => Some(true),
            (_, NoDataPolicy::Ok) => Some(false),
            (_, NoDataPolicy::KeepLast) => None,
            (_, NoDataPolicy::NoData) => {
                next.phase = Phase::NoData;
                None
            }
        },
        Observation::QueryFailed => match rule.on_error {
            ErrorPolicy::Alerting => Some(true),
            ErrorPolicy::KeepLast => None,
            ErrorPolicy::Error => {
                next.phase = Phase::Error;
                None
            }
        },
    };
    let Some(holds) = holds else {
        return (next, None);
    };
    let value = next
        .last_value
        .filter(|_| matches!(observation, Observation::Value(_)));
    let pending_for = rule.for_.as_duration();
    let keep_for = rule.keep_firing_for.as_duration();

    if prev.alerting() {
        if holds {
            next.phase = Phase::Firing;
            next.clear_since = None;
            return (next, None);
        }
        let clear_since = prev.clear_since.unwrap_or(now);
        if now < clear_since + keep_for {
            next.phase = Phase::Firing;
            next.clear_since = Some(clear_since);
            return (next, None);
        }
        let resolved = SeriesState {
            last_value: next.last_value,
            last_seen_at: next.last_seen_at,
            ..SeriesState::default()
        };
        return (resolved, Some(Transition::Resolved { value }));
    }

    if !holds {
        next.phase = Phase::Normal;
        next.pending_since = None;
        return (next, None);
    }
    let pending_since = prev.pending_since.unwrap_or(now);
    if now >= pending_since + pending_for {
        next.phase = Phase::Firing;
        next.pending_since = Some(pending_since);
        next.firing_since = Some(now);
        next.clear_since = None;
        (next, Some(Transition::Fired { value }))
    } else {
        next.phase = Phase::Pending;
        next.pending_since = Some(pending_since);
        (next, None)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_models::rule::{RuleInput, RuleLimits};

    use super::*;
    use Observation::{NoData, QueryFailed, Value};

    fn rule(extra: serde_json::Value) -> RuleSpec {
        let mut v = json!({
            "name": "r",
            "metric": {"measurement": "m", "field": "f"},
            "condition": {"op": ">", "threshold": 10},
            "interval": "10s"
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        let input: RuleInput = serde_json::from_value(v).unwrap();
        RuleSpec::parse(input, &RuleLimits::default()).unwrap()
    }

    /// Runs observations 10 s apart and returns, for each, the phase and the
    /// transition as a short string ("F" fired, "R" resolved, "" none).
    fn run(rule: &RuleSpec, observations: &[Observation]) -> Vec<(Phase, &'static str)> {
        let mut state = SeriesState::default();
        let mut out = Vec::new();
        let mut now = Timestamp::EPOCH;
        for obs in observations {
            let (next, transition) = step(&state, *obs, rule, now);
            now += std::time::Duration::from_secs(10);
            let mark = match transition {
                Some(Transition::Fired { .. }) => "F",
                Some(Transition::Resolved { .. }) => "R",
                None => "",
            };
            out.push((next.phase, mark));
            state = next;
        }
        out
    }

    use Phase::{Error as Err_, Firing, NoData as Nd, Normal, Pending};

    #[test]
    fn fires_at_once_without_for_and_resolves() {
        let r = rule(json!({}));
        assert_eq!(
            run(&r, &[Value(5.0), Value(11.0), Value(12.0), Value(9.0)]),
            vec![(Normal, ""), (Firing, "F"), (Firing, ""), (Normal, "R")]
        );
    }

    #[test]
    fn pending_until_for_has_elapsed() {
        let r = rule(json!({"for": "20s"}));
        assert_eq!(
            run(&r, &[Value(11.0), Value(11.0), Value(11.0), Value(11.0)]),
            vec![(Pending, ""), (Pending, ""), (Firing, "F"), (Firing, "")]
        );
        // A dip while pending restarts the timer.
        assert_eq!(
            run(
                &r,
                &[
                    Value(11.0),
                    Value(11.0),
                    Value(1.0),
                    Value(11.0),
                    Value(11.0),
                    Value(11.0)
                ]
            ),
            vec![
                (Pending, ""),
                (Pending, ""),
                (Normal, ""),
                (Pending, ""),
                (Pending, ""),
                (Firing, "F")
            ]
        );
    }

    #[test]
    fn recovery_threshold_gives_hysteresis() {
        let r = rule(json!({"condition": {"op": ">", "threshold": 10, "recovery_threshold": 8}}));
        assert_eq!(
            run(
                &r,
                &[Value(11.0), Value(9.0), Value(10.0), Value(7.9), Value(9.0)]
            ),
            vec![
                (Firing, "F"),
                (Firing, ""),
                (Firing, ""),
                (Normal, "R"),
                (Normal, "")
            ]
        );
    }

    #[test]
    fn keep_firing_for_rides_out_dips() {
        let r = rule(json!({"keep_firing_for": "20s"}));
        assert_eq!(
            run(
                &r,
                &[
                    Value(11.0),
                    Value(1.0),
                    Value(11.0),
                    Value(1.0),
                    Value(1.0),
                    Value(1.0)
                ]
            ),
            vec![
                (Firing, "F"),
                (Firing, ""),
                (Firing, ""),
                (Firing, ""),
                (Firing, ""),
                (Normal, "R")
            ]
        );
    }

    #[test]
    fn no_data_policies() {
        let held = rule(json!({}));
        assert_eq!(
            run(&held, &[Value(11.0), NoData, NoData, Value(1.0)]),
            vec![(Firing, "F"), (Nd, ""), (Nd, ""), (Normal, "R")]
        );
        let ok = rule(json!({"no_data": "ok"}));
        assert_eq!(
            run(&ok, &[Value(11.0), NoData]),
            vec![(Firing, "F"), (Normal, "R")]
        );
        let alerting = rule(json!({"no_data": "alerting", "for": "10s"}));
        assert_eq!(
            run(&alerting, &[NoData, NoData, Value(1.0)]),
            vec![(Pending, ""), (Firing, "F"), (Normal, "R")]
        );
        let keep = rule(json!({"no_data": "keep_last", "for": "20s"}));
        assert_eq!(
            run(&keep, &[Value(11.0), NoData, Value(11.0)]),
            vec![(Pending, ""), (Pending, ""), (Firing, "F")]
        );
    }

    #[test]
    fn query_errors_never_resolve_or_fire_falsely() {
        let r = rule(json!({}));
        assert_eq!(
            run(&r, &[Value(11.0), QueryFailed, QueryFailed, Value(11.0)]),
            vec![(Firing, "F"), (Err_, ""), (Err_, ""), (Firing, "")]
        );
        assert_eq!(
            run(&r, &[Value(1.0), QueryFailed]),
            vec![(Normal, ""), (Err_, "")]
        );
        let alerting = rule(json!({"on_error": "alerting"}));
        assert_eq!(run(&alerting, &[QueryFailed]), vec![(Firing, "F")]);
    }

    #[test]
    fn absence_fires_when_data_stops() {
        let r = rule(json!({"condition": {"kind": "absence"}, "for": "10s"}));
        assert_eq!(
            run(&r, &[Value(1.0), NoData, NoData, Value(1.0)]),
            vec![(Normal, ""), (Pending, ""), (Firing, "F"), (Normal, "R")]
        );
    }

    #[test]
    fn pending_timer_continues_from_persisted_state() {
        let r = rule(json!({"for": "30s"}));
        let (pending, _) = step(&SeriesState::default(), Value(11.0), &r, Timestamp::EPOCH);
        // As if the process restarted and read `pending` back 20 s later.
        let (still, t) = step(&pending, Value(11.0), &r, Timestamp::from_millis(20_000));
        assert_eq!((still.phase, t), (Pending, None));
        let (fired, t) = step(&still, Value(11.0), &r, Timestamp::from_millis(30_000));
        assert_eq!(fired.phase, Firing);
        assert_eq!(t, Some(Transition::Fired { value: Some(11.0) }));
    }
}
