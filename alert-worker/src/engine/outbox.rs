//! Which notifications one evaluation of one series owes, decided purely
//! from the rule, the series' state before and after, and the active
//! silences. The rows it plans are written in the same transaction as the
//! state change that caused them (the outbox), so a crash can neither lose
//! a notification nor queue one for a transition that was not recorded.

use shared_models::{
    ids::NotificationId,
    notification::{DeliveryStatus, NotificationEvent, NotifyEvent},
    silence::ActiveSilence,
    time::Timestamp,
};

use super::{
    plan::Labels,
    rules::LoadedRule,
    state::{SeriesState, Transition},
    template,
};

/// What the series owes its channels at this evaluation, if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub event: NotifyEvent,
    /// Pending (to send), or recorded as silenced or suppressed.
    pub status: DeliveryStatus,
    pub reason: Option<String>,
}

/// Decides the notification for one series, and stamps `next` with the
/// notification time when one will be sent.
///
/// - A firing alert notifies unless a silence mutes it or the series sent
///   something within `cooldown`; either way the decision is recorded.
/// - An alert that fired while muted notifies once the silence or cooldown
///   is over, if it is still firing: muting delays, it does not forget.
/// - A firing alert notifies again every `repeat_interval`.
/// - A resolution notifies only if the firing was notified (a receiver is
///   never told that something it never heard of is over), ignoring the
///   cooldown, so that every notified firing gets its resolution.
pub fn decide(
    rule: &LoadedRule,
    labels: &Labels,
    prev: &SeriesState,
    next: &mut SeriesState,
    transition: Option<Transition>,
    silences: &[ActiveSilence],
    now: Timestamp,
) -> Option<Verdict> {
    let spec = &rule.spec;
    if spec.channels.is_empty() {
        return None;
    }
    let silence = || {
        let mut all = spec.labels.clone();
        all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let owner = rule.owner.to_string();
        let id = rule.id.to_string();
        silences
            .iter()
            .find(|s| s.mutes(&owner, &id, &all, now))
            .map(|s| s.id.clone())
    };
    let cooldown = spec.cooldown.as_duration();
    let in_cooldown = prev
        .last_notified_at
        .is_some_and(|at| !cooldown.is_zero() && now < at + cooldown);
    let send = |next: &mut SeriesState, event| {
        next.last_notified_at = Some(now);
        Some(Verdict {
            event,
            status: DeliveryStatus::Pending,
            reason: None,
        })
    };
    match transition {
        Some(Transition::Fired { .. }) => {
            if let Some(silence) = silence() {
                Some(Verdict {
                    event: NotifyEvent::Firing,
                    status: DeliveryStatus::Silenced,
                    reason: Some(format!("silence {silence}")),
                })
            } else if in_cooldown {
                Some(Verdict {
                    event: NotifyEvent::Firing,
                    status: DeliveryStatus::Suppressed,
                    reason: Some(format!(
                        "cooldown {} after the last notification",
                        spec.cooldown
                    )),
                })
            } else {
                send(next, NotifyEvent::Firing)
            }
        }
        Some(Transition::Resolved { .. }) => {
            let notified = notified_since(prev, prev.firing_since);
            if !spec.notify_on_resolve || !notified {
                return None;
            }
            match silence() {
                Some(silence) => Some(Verdict {
                    event: NotifyEvent::Resolved,
                    status: DeliveryStatus::Silenced,
                    reason: Some(format!("silence {silence}")),
                }),
                None => send(next, NotifyEvent::Resolved),
            }
        }
        None if next.alerting() && next.alert_id.is_some() => {
            if !notified_since(prev, next.firing_since) {
                // Fired while muted: tell now, once nothing mutes it.
                return (!in_cooldown && silence().is_none())
                    .then(|| send(next, NotifyEvent::Firing))
                    .flatten();
            }
            let repeat = spec.repeat_interval.as_duration();
            let due = prev
                .last_notified_at
                .is_some_and(|at| !repeat.is_zero() && now >= at + repeat);
            (due && silence().is_none())
                .then(|| send(next, NotifyEvent::Repeat))
                .flatten()
        }
        None => None,
    }
}

/// Whether the series notified at or after `since` (the alert's start).
fn notified_since(state: &SeriesState, since: Option<Timestamp>) -> bool {
    match (state.last_notified_at, since) {
        (Some(at), Some(since)) => at >= since,
        _ => false,
    }
}

/// The alert a notification is about.
#[derive(Debug, Clone, Copy)]
pub struct AlertFacts<'a> {
    pub id: &'a str,
    /// The rule's tag filters and the series' group labels.
    pub labels: &'a Labels,
    pub started_at: Timestamp,
    pub value: Option<f64>,
}

/// One planned outbox row, before it is written.
#[derive(Debug, Clone)]
pub struct PlannedNotification {
    pub id: NotificationId,
    pub channel: String,
    pub idempotency_key: String,
    pub verdict: Verdict,
    pub event: NotificationEvent,
}

/// The rows for `verdict`, one per channel of the rule. The idempotency key
/// names the alert, the event, the evaluation tick and the channel, so the
/// same transition cannot queue twice even if written twice.
pub fn rows_for(
    rule: &LoadedRule,
    alert: AlertFacts<'_>,
    verdict: &Verdict,
    now: Timestamp,
) -> Vec<PlannedNotification> {
    let AlertFacts {
        id: alert_id,
        labels: alert_labels,
        started_at,
        value,
    } = alert;
    let spec = &rule.spec;
    let resolved = verdict.event.is_resolution();
    let event = NotificationEvent {
        event: verdict.event,
        alert_id: alert_id.to_owned(),
        rule_id: rule.id.to_string(),
        rule_name: spec.name.as_str().to_owned(),
        severity: spec.severity,
        value,
        threshold: spec.condition.threshold,
        condition: spec.describe(),
        labels: alert_labels.clone(),
        started_at: started_at.as_millis(),
        resolved_at: resolved.then_some(now.as_millis()),
        message: template::render(spec, alert_labels, value),
        description: spec.description.clone(),
    };
    spec.channels
        .iter()
        .map(|channel| PlannedNotification {
            id: NotificationId::generate(),
            channel: channel.to_string(),
            idempotency_key: format!("{alert_id}:{}:{}:{channel}", verdict.event, now.as_millis()),
            verdict: verdict.clone(),
            event: event.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use shared_models::{
        ids::{ChannelId, RuleId, UserId},
        rule::{RuleInput, RuleLimits, RuleSpec},
        shard::Shard,
    };

    use super::*;
    use crate::engine::state::Phase;

    const MIN: i64 = 60_000;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    fn rule(extra: serde_json::Value) -> LoadedRule {
        let mut v = json!({
            "name": "r",
            "metric": {"measurement": "m", "field": "f"},
            "condition": {"op": ">", "threshold": 1},
            "interval": "10s",
            "labels": {"team": "ops"},
            "channels": [ChannelId::generate().to_string()],
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        let input: RuleInput = serde_json::from_value(v).unwrap();
        LoadedRule {
            id: RuleId::generate(),
            owner: UserId::generate(),
            version: 1,
            shard: Shard::FIRST,
            spec: RuleSpec::parse(input, &RuleLimits::default()).unwrap(),
            next_due: Timestamp::EPOCH,
        }
    }

    fn firing(since: i64, notified: Option<i64>) -> SeriesState {
        SeriesState {
            phase: Phase::Firing,
            firing_since: Some(at(since)),
            pending_since: Some(at(since)),
            alert_id: Some("a1".into()),
            last_notified_at: notified.map(at),
            ..SeriesState::default()
        }
    }

    fn silence(rule: &LoadedRule, matchers: &[(&str, &str)], until: i64) -> ActiveSilence {
        ActiveSilence {
            id: "s1".into(),
            owner_id: rule.owner.to_string(),
            rule_id: None,
            matchers: matchers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            starts_at: Timestamp::EPOCH,
            ends_at: at(until),
        }
    }

    fn fired() -> Option<Transition> {
        Some(Transition::Fired { value: Some(2.0) })
    }

    fn resolved() -> Option<Transition> {
        Some(Transition::Resolved { value: Some(0.0) })
    }

    #[test]
    fn a_firing_notifies_and_stamps_the_series() {
        let r = rule(json!({}));
        let prev = SeriesState::default();
        let mut next = firing(10 * MIN, None);
        let v = decide(
            &r,
            &Labels::new(),
            &prev,
            &mut next,
            fired(),
            &[],
            at(10 * MIN),
        )
        .unwrap();
        assert_eq!(
            (v.event, v.status),
            (NotifyEvent::Firing, DeliveryStatus::Pending)
        );
        assert_eq!(next.last_notified_at, Some(at(10 * MIN)));
    }

    #[test]
    fn no_channels_no_notifications() {
        let r = rule(json!({"channels": []}));
        let mut next = firing(0, None);
        assert_eq!(
            decide(
                &r,
                &Labels::new(),
                &SeriesState::default(),
                &mut next,
                fired(),
                &[],
                at(0)
            ),
            None
        );
    }

    #[test]
    fn a_silenced_firing_is_recorded_then_sent_when_the_silence_ends() {
        let r = rule(json!({}));
        let muted = [silence(&r, &[("team", "ops")], 5 * MIN)];
        let mut next = firing(MIN, None);
        let v = decide(
            &r,
            &Labels::new(),
            &SeriesState::default(),
            &mut next,
            fired(),
            &muted,
            at(MIN),
        )
        .unwrap();
        assert_eq!(v.status, DeliveryStatus::Silenced);
        assert_eq!(next.last_notified_at, None);
        // Still silenced: nothing more is recorded.
        let prev = next.clone();
        assert_eq!(
            decide(
                &r,
                &Labels::new(),
                &prev,
                &mut next,
                None,
                &muted,
                at(2 * MIN)
            ),
            None
        );
        // Silence over, still firing: the firing goes out now.
        let v = decide(
            &r,
            &Labels::new(),
            &prev,
            &mut next,
            None,
            &muted,
            at(5 * MIN),
        )
        .unwrap();
        assert_eq!(
            (v.event, v.status),
            (NotifyEvent::Firing, DeliveryStatus::Pending)
        );
    }

    #[test]
    fn matchers_that_do_not_match_do_not_silence() {
        let r = rule(json!({}));
        let other = [silence(&r, &[("team", "payments")], 5 * MIN)];
        let mut next = firing(MIN, None);
        let v = decide(
            &r,
            &Labels::new(),
            &SeriesState::default(),
            &mut next,
            fired(),
            &other,
            at(MIN),
        )
        .unwrap();
        assert_eq!(v.status, DeliveryStatus::Pending);
    }

    #[test]
    fn cooldown_suppresses_a_refiring_then_lets_it_through() {
        let r = rule(json!({"cooldown": "10m"}));
        // Notified (and resolved) at minute 1; fires again at minute 3.
        let prev = SeriesState {
            last_notified_at: Some(at(MIN)),
            ..SeriesState::default()
        };
        let mut next = firing(3 * MIN, Some(MIN));
        let v = decide(
            &r,
            &Labels::new(),
            &prev,
            &mut next,
            fired(),
            &[],
            at(3 * MIN),
        )
        .unwrap();
        assert_eq!(v.status, DeliveryStatus::Suppressed);
        let prev = next.clone();
        assert_eq!(
            decide(
                &r,
                &Labels::new(),
                &prev,
                &mut next,
                None,
                &[],
                at(10 * MIN)
            ),
            None
        );
        let v = decide(
            &r,
            &Labels::new(),
            &prev,
            &mut next,
            None,
            &[],
            at(11 * MIN),
        )
        .unwrap();
        assert_eq!(
            (v.event, v.status),
            (NotifyEvent::Firing, DeliveryStatus::Pending)
        );
    }

    #[test]
    fn repeats_every_repeat_interval_while_firing() {
        let r = rule(json!({"repeat_interval": "1h"}));
        let prev = firing(0, Some(0));
        let mut next = prev.clone();
        assert_eq!(
            decide(
                &r,
                &Labels::new(),
                &prev,
                &mut next,
                None,
                &[],
                at(59 * MIN)
            ),
            None
        );
        let v = decide(
            &r,
            &Labels::new(),
            &prev,
            &mut next,
            None,
            &[],
            at(60 * MIN),
        )
        .unwrap();
        assert_eq!(v.event, NotifyEvent::Repeat);
        assert_eq!(next.last_notified_at, Some(at(60 * MIN)));
        let never = rule(json!({"repeat_interval": "0s"}));
        let mut next = prev.clone();
        assert_eq!(
            decide(
                &never,
                &Labels::new(),
                &prev,
                &mut next,
                None,
                &[],
                at(600 * MIN)
            ),
            None
        );
    }

    #[test]
    fn resolution_follows_a_notified_firing_only() {
        let r = rule(json!({"cooldown": "1h"}));
        let notified = firing(0, Some(0));
        let mut next = SeriesState::default();
        let v = decide(
            &r,
            &Labels::new(),
            &notified,
            &mut next,
            resolved(),
            &[],
            at(MIN),
        )
        .unwrap();
        assert_eq!(
            (v.event, v.status),
            (NotifyEvent::Resolved, DeliveryStatus::Pending),
            "cooldown does not hold back a resolution"
        );
        let never_told = firing(0, None);
        let mut next = SeriesState::default();
        assert_eq!(
            decide(
                &r,
                &Labels::new(),
                &never_told,
                &mut next,
                resolved(),
                &[],
                at(MIN)
            ),
            None
        );
        let quiet = rule(json!({"notify_on_resolve": false}));
        let mut next = SeriesState::default();
        assert_eq!(
            decide(
                &quiet,
                &Labels::new(),
                &notified,
                &mut next,
                resolved(),
                &[],
                at(MIN)
            ),
            None
        );
    }

    #[test]
    fn rows_carry_one_key_per_channel_and_the_alert_facts() {
        let mut r = rule(json!({}));
        r.spec.channels.push(ChannelId::generate());
        let labels = BTreeMap::from([("symbol".to_owned(), "BTC".to_owned())]);
        let verdict = Verdict {
            event: NotifyEvent::Firing,
            status: DeliveryStatus::Pending,
            reason: None,
        };
        let alert = AlertFacts {
            id: "a1",
            labels: &labels,
            started_at: at(MIN),
            value: Some(71_000.0),
        };
        let rows = rows_for(&r, alert, &verdict, at(MIN));
        assert_eq!(rows.len(), 2);
        assert_ne!(rows[0].idempotency_key, rows[1].idempotency_key);
        assert!(rows[0].idempotency_key.starts_with("a1:firing:"));
        assert_eq!(rows[0].event.value, Some(71_000.0));
        assert_eq!(rows[0].event.threshold, Some(1.0));
        assert_eq!(rows[0].event.labels, labels);
        assert_eq!(rows[0].event.started_at, MIN);
    }
}
