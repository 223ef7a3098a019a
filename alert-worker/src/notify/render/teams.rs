//! Microsoft Teams through a Workflows webhook: a message carrying one
//! Adaptive Card (schema 1.4, what Teams renders).

use serde_json::{Value, json};
use shared_models::{notification::NotifyEvent, rule::Severity};

use super::Facts;
use crate::notify::Delivery;

pub fn render(delivery: &Delivery<'_>) -> Value {
    let facts = Facts::of(delivery.event);
    let event = facts.event;
    let fact = |title: &str, value: &str| json!({"title": title, "value": value});
    let mut facts_set = vec![
        fact("State", facts.state),
        fact("Severity", facts.severity.as_str()),
        fact("Value", &facts.value),
        fact("Threshold", &facts.threshold),
        fact("Started", &facts.started),
    ];
    if let Some(duration) = &facts.duration {
        facts_set.push(fact("Duration", duration));
    }
    if !event.labels.is_empty() {
        facts_set.push(fact("Labels", &facts.labels_text()));
    }
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": facts.title,
                "size": "Large",
                "weight": "Bolder",
                "color": colour(event.event, facts.severity),
                "wrap": true,
            },
            {"type": "TextBlock", "text": facts.message(), "wrap": true},
            {"type": "FactSet", "facts": facts_set},
            {
                "type": "TextBlock",
                "text": format!("Condition: {}", event.condition),
                "isSubtle": true,
                "wrap": true,
            },
            {
                "type": "TextBlock",
                "text": format!("Rule {} · alert {}", event.rule_id, event.alert_id),
                "isSubtle": true,
                "size": "Small",
                "wrap": true,
            },
        ],
    });
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Adaptive Cards name colours by meaning, not value.
fn colour(event: NotifyEvent, severity: Severity) -> &'static str {
    match (event, severity) {
        (NotifyEvent::Resolved, _) => "good",
        (NotifyEvent::Test, _) => "accent",
        (_, Severity::Critical) => "attention",
        (_, Severity::Warning) => "warning",
        (_, Severity::Info) => "accent",
    }
}

#[cfg(test)]
mod tests {
    use shared_models::channel::ChannelConfig;

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    #[test]
    fn an_adaptive_card_with_facts() {
        let channel = ChannelConfig::Teams {
            webhook_url: "https://example.logic.azure.com/workflows/x".to_owned(),
        };
        let event = sample(NotifyEvent::Repeat);
        let body = render(&delivery(&event, &channel));
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(card["version"], "1.4");
        assert_eq!(
            card["body"][0]["text"],
            "[STILL FIRING] BTC <above> & beyond"
        );
        assert_eq!(card["body"][0]["color"], "attention");
        assert_eq!(card["body"][2]["type"], "FactSet");
        assert_eq!(
            card["body"][2]["facts"][0],
            json!({"title": "State", "value": "Still firing"})
        );
    }
}
