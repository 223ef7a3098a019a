//! PagerDuty Events API v2. The alert id is the dedup key, so a firing, its
//! repeats and its resolution all act on one PagerDuty incident.

use serde_json::{Value, json};
use shared_models::{notification::NotifyEvent, rule::Severity, time::format_millis};

use super::{Facts, truncate};
use crate::notify::Delivery;

/// The Events API refuses a longer summary.
const SUMMARY_MAX: usize = 1_024;
const SOURCE_MAX: usize = 255;

pub fn render(delivery: &Delivery<'_>, routing_key: &str) -> Value {
    let facts = Facts::of(delivery.event);
    let event = facts.event;
    // A test must not touch a real alert's incident.
    let dedup_key = match event.event {
        NotifyEvent::Test => delivery.id,
        _ => event.alert_id.as_str(),
    };
    if event.event == NotifyEvent::Resolved {
        // A resolve names the incident; PagerDuty ignores any payload.
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let summary = format!("{}: {}", facts.title, facts.message());
    let source = event
        .labels
        .get("host")
        .map_or("monitors-mcp", String::as_str);
    json!({
        "routing_key": routing_key,
        // A repeat triggers again: PagerDuty folds it into the open
        // incident by its dedup key, and reopens one resolved by hand.
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": "monitors-mcp",
        "payload": {
            "summary": truncate(&summary, SUMMARY_MAX),
            "source": truncate(source, SOURCE_MAX),
            "severity": severity(facts.severity),
            "timestamp": facts.started,
            "component": truncate(&event.rule_name, SOURCE_MAX),
            "class": event.event.as_str(),
            "custom_details": {
                "rule_id": event.rule_id,
                "rule_name": event.rule_name,
                "alert_id": event.alert_id,
                "state": facts.state,
                "value": event.value,
                "threshold": event.threshold,
                "condition": event.condition,
                "labels": event.labels,
                "started_at": format_millis(event.started_at),
                "message": event.message,
                "description": event.description,
            },
        },
    })
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

#[cfg(test)]
mod tests {
    use shared_models::channel::ChannelConfig;

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    fn channel() -> ChannelConfig {
        ChannelConfig::Pagerduty {
            routing_key: "R0UTING".to_owned(),
            events_url: "https://events.pagerduty.com/v2/enqueue".to_owned(),
        }
    }

    #[test]
    fn trigger_and_resolve_share_the_alert_id() {
        let channel = channel();
        let firing = sample(NotifyEvent::Firing);
        let body = render(&delivery(&firing, &channel), "R0UTING");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "alr_0193");
        assert_eq!(body["payload"]["severity"], "critical");
        assert_eq!(body["payload"]["timestamp"], "2026-01-01T00:00:00.000Z");
        assert_eq!(body["payload"]["custom_details"]["labels"]["symbol"], "BTC");

        let resolved = sample(NotifyEvent::Resolved);
        let body = render(&delivery(&resolved, &channel), "R0UTING");
        assert_eq!(
            body,
            json!({"routing_key": "R0UTING", "event_action": "resolve", "dedup_key": "alr_0193"})
        );

        let test = sample(NotifyEvent::Test);
        let body = render(&delivery(&test, &channel), "R0UTING");
        assert_eq!(body["dedup_key"], "ntf_0001");
    }

    #[test]
    fn the_summary_fits_the_limit() {
        let channel = channel();
        let mut event = sample(NotifyEvent::Repeat);
        event.message = "x".repeat(5_000);
        let body = render(&delivery(&event, &channel), "R0UTING");
        assert_eq!(body["event_action"], "trigger");
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 1_024);
    }
}
