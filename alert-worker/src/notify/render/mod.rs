//! What each platform receives for one notification. Every renderer shows
//! the same facts (rule, state, severity, value and threshold, condition,
//! series labels, start and, on resolution, duration, and the rule's
//! message) in its platform's idiom, and escapes every user-given string for
//! the context it lands in.

pub mod discord;
pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

use shared_models::{
    notification::{NotificationEvent, NotifyEvent},
    rule::Severity,
    time::format_millis,
};

/// The facts every renderer shows, formatted once, unescaped.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    pub event: &'a NotificationEvent,
    pub title: String,
    pub state: &'static str,
    pub severity: Severity,
    pub value: String,
    pub threshold: String,
    pub started: String,
    pub duration: Option<String>,
}

impl<'a> Facts<'a> {
    pub fn of(event: &'a NotificationEvent) -> Self {
        Self {
            event,
            title: event.title(),
            state: state_word(event.event),
            severity: event.severity,
            value: number(event.value),
            threshold: number(event.threshold),
            started: format_millis(event.started_at),
            duration: event.duration_ms().map(human_duration),
        }
    }

    /// `key="value"` pairs, in label order.
    pub fn labels_text(&self) -> String {
        self.event
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The message, or the title when the rule's template rendered nothing.
    pub fn message(&self) -> &str {
        if self.event.message.trim().is_empty() {
            &self.title
        } else {
            &self.event.message
        }
    }
}

fn state_word(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Firing => "Firing",
        NotifyEvent::Repeat => "Still firing",
        NotifyEvent::Resolved => "Resolved",
        NotifyEvent::Test => "Test",
    }
}

/// Rust's shortest round-tripping form: `70000`, `0.1`, `1e-7`; absent
/// values (absence conditions) show as a dash.
fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// `2h 5m 3s`: the largest three units that are not zero.
pub(crate) fn human_duration(ms: i64) -> String {
    let total = ms.max(0) / 1_000;
    if total == 0 {
        return "under 1s".to_owned();
    }
    let units = [
        (total / 86_400, "d"),
        (total % 86_400 / 3_600, "h"),
        (total % 3_600 / 60, "m"),
        (total % 60, "s"),
    ];
    units
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(3)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Slack's mrkdwn treats `<...>` as links and mentions (`<!channel>`), so
/// user text escapes the three control characters Slack documents.
pub fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// At most `max` characters, the last one an ellipsis when cut: platforms
/// refuse a whole message whose field is a character too long.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use shared_models::{channel::ChannelConfig, time::Timestamp};

    use super::*;
    use crate::notify::Delivery;

    pub fn delivery<'a>(event: &'a NotificationEvent, channel: &'a ChannelConfig) -> Delivery<'a> {
        Delivery {
            id: "ntf_0001",
            event,
            channel,
            channel_name: "ops",
            now: Timestamp::from_millis(1_767_229_504_000),
        }
    }

    /// A firing alert with characters every platform must escape.
    pub fn sample(event: NotifyEvent) -> NotificationEvent {
        NotificationEvent {
            event,
            alert_id: "alr_0193".to_owned(),
            rule_id: "rul_0042".to_owned(),
            rule_name: "BTC <above> & beyond".to_owned(),
            severity: Severity::Critical,
            value: Some(70_123.5),
            threshold: Some(70_000.0),
            condition: "last(crypto.price{symbol=\"BTC\"}) over 5m > 70000".to_owned(),
            labels: BTreeMap::from([
                ("symbol".to_owned(), "BTC".to_owned()),
                ("venue".to_owned(), "<script>".to_owned()),
            ]),
            started_at: 1_767_225_600_000,
            resolved_at: (event == NotifyEvent::Resolved).then_some(1_767_229_503_000),
            message: "BTC is at 70123.5 <!channel>".to_owned(),
            description: None,
        }
    }

    #[test]
    fn durations_show_the_largest_units() {
        assert_eq!(human_duration(3_903_000), "1h 5m 3s");
        assert_eq!(human_duration(90_061_000), "1d 1h 1m");
        assert_eq!(human_duration(120_000), "2m");
        assert_eq!(human_duration(999), "under 1s");
    }

    #[test]
    fn facts_format_numbers_and_times() {
        let event = sample(NotifyEvent::Resolved);
        let facts = Facts::of(&event);
        assert_eq!(facts.value, "70123.5");
        assert_eq!(facts.threshold, "70000");
        assert_eq!(facts.started, "2026-01-01T00:00:00.000Z");
        assert_eq!(facts.duration.as_deref(), Some("1h 5m 3s"));
        assert_eq!(facts.labels_text(), "symbol=\"BTC\", venue=\"<script>\"");
        assert_eq!(number(None), "—");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
    }

    proptest! {

        #[test]
        fn escaped_slack_text_has_no_control_characters(text in ".*") {
            let escaped = escape_slack(&text);
            prop_assert!(!escaped.contains(['<', '>']));
            let unescaped = escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            prop_assert_eq!(unescaped, text);
        }
    }
}
