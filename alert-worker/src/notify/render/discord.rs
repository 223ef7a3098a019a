//! Discord webhooks: one embed, coloured by severity (green once resolved).

use serde_json::{Value, json};
use shared_models::{notification::NotifyEvent, rule::Severity, time::format_millis};

use super::{Facts, truncate};
use crate::notify::Delivery;

/// Discord's limits: title, description, field name and value, fields.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4_096;
const FIELD_VALUE_MAX: usize = 1_024;

pub fn render(delivery: &Delivery<'_>) -> Value {
    let facts = Facts::of(delivery.event);
    let event = facts.event;
    let field = |name: &str, value: &str, inline: bool| json!({"name": name, "value": truncate(value, FIELD_VALUE_MAX), "inline": inline});
    let mut fields = vec![
        field("State", facts.state, true),
        field("Severity", facts.severity.as_str(), true),
        field("Value", &facts.value, true),
        field("Threshold", &facts.threshold, true),
        field("Started", &facts.started, true),
    ];
    if let Some(duration) = &facts.duration {
        fields.push(field("Duration", duration, true));
    }
    fields.push(field("Condition", &event.condition, false));
    if !event.labels.is_empty() {
        fields.push(field("Labels", &facts.labels_text(), false));
    }
    let timestamp = format_millis(event.resolved_at.unwrap_or(event.started_at));
    json!({
        "embeds": [{
            "title": truncate(&facts.title, TITLE_MAX),
            "description": truncate(facts.message(), DESCRIPTION_MAX),
            "color": colour(event.event, facts.severity),
            "fields": fields,
            "timestamp": timestamp,
            "footer": {"text": truncate(&format!("rule {} · alert {}", event.rule_id, event.alert_id), TITLE_MAX)},
        }],
        // Rule text could say @everyone; nothing a rule writes may ping.
        "allowed_mentions": {"parse": []},
    })
}

fn colour(event: NotifyEvent, severity: Severity) -> u32 {
    match (event, severity) {
        (NotifyEvent::Resolved, _) => 0x2E7D32,
        (NotifyEvent::Test, _) => 0x757575,
        (_, Severity::Critical) => 0xD32F2F,
        (_, Severity::Warning) => 0xF9A825,
        (_, Severity::Info) => 0x1976D2,
    }
}

#[cfg(test)]
mod tests {
    use shared_models::channel::ChannelConfig;

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    #[test]
    fn one_embed_coloured_by_severity_and_state() {
        let channel = ChannelConfig::Discord {
            webhook_url: "https://discord.com/api/webhooks/1/x".to_owned(),
        };
        let firing = sample(NotifyEvent::Firing);
        let body = render(&delivery(&firing, &channel));
        let embed = &body["embeds"][0];
        assert_eq!(embed["color"], 0xD32F2F);
        assert_eq!(embed["title"], "[FIRING] BTC <above> & beyond");
        assert_eq!(embed["timestamp"], "2026-01-01T00:00:00.000Z");
        assert_eq!(embed["fields"][2]["value"], "70123.5");
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));

        let resolved = sample(NotifyEvent::Resolved);
        let body = render(&delivery(&resolved, &channel));
        assert_eq!(body["embeds"][0]["color"], 0x2E7D32);
        assert_eq!(body["embeds"][0]["timestamp"], "2026-01-01T01:05:03.000Z");
    }
}
