//! Slack incoming webhooks: Block Kit, with a plain `text` that
//! notifications and old clients show instead of the blocks.

use serde_json::{Value, json};
use shared_models::{notification::NotifyEvent, rule::Severity};

use super::{Facts, escape_slack, truncate};
use crate::notify::Delivery;

/// Slack's limits: header text, section text, field text.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3_000;
const FIELD_MAX: usize = 2_000;

pub fn render(delivery: &Delivery<'_>) -> Value {
    let facts = Facts::of(delivery.event);
    let emoji = emoji(&facts);
    let field = |name: &str, value: &str| {
        json!({
            "type": "mrkdwn",
            "text": truncate(&format!("*{name}*\n{}", escape_slack(value)), FIELD_MAX),
        })
    };
    let mut fields = vec![
        field("State", facts.state),
        field("Severity", facts.severity.as_str()),
        field("Value", &facts.value),
        field("Threshold", &facts.threshold),
        field("Started", &facts.started),
    ];
    if let Some(duration) = &facts.duration {
        fields.push(field("Duration", duration));
    }
    let mut blocks = vec![
        json!({
            "type": "header",
            // plain_text is shown as written: no escaping, and `emoji`
            // turns the shortcode into the picture.
            "text": {"type": "plain_text", "text": truncate(&format!("{emoji} {}", facts.title), HEADER_MAX), "emoji": true},
        }),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&escape_slack(facts.message()), SECTION_MAX)},
        }),
        json!({"type": "section", "fields": fields}),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&format!("*Condition*\n{}", escape_slack(&facts.event.condition)), SECTION_MAX)},
        }),
    ];
    let mut context = vec![json!({
        "type": "mrkdwn",
        "text": truncate(&format!("Rule {} · alert {}", escape_slack(&facts.event.rule_id), escape_slack(&facts.event.alert_id)), FIELD_MAX),
    })];
    if !facts.event.labels.is_empty() {
        context.insert(
            0,
            json!({"type": "mrkdwn", "text": truncate(&format!("*Labels* {}", escape_slack(&facts.labels_text())), FIELD_MAX)}),
        );
    }
    blocks.push(json!({"type": "context", "elements": context}));
    json!({
        "text": truncate(&format!("{emoji} {}: {}", escape_slack(&facts.title), escape_slack(facts.message())), SECTION_MAX),
        "blocks": blocks,
    })
}

/// Severity as Slack users read it at a glance; a resolution is green
/// whatever the severity was.
fn emoji(facts: &Facts<'_>) -> &'static str {
    match (facts.event.event, facts.severity) {
        (NotifyEvent::Resolved, _) => ":white_check_mark:",
        (NotifyEvent::Test, _) => ":test_tube:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Warning) => ":large_orange_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    }
}

#[cfg(test)]
mod tests {
    use shared_models::channel::ChannelConfig;

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    #[test]
    fn blocks_carry_every_fact_escaped() {
        let event = sample(NotifyEvent::Resolved);
        let channel = ChannelConfig::Slack {
            webhook_url: "https://hooks.slack.com/services/T/B/x".to_owned(),
        };
        let body = render(&delivery(&event, &channel));
        let text = body.to_string();
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with(":white_check_mark: [RESOLVED] BTC &lt;above&gt; &amp; beyond")
        );
        assert_eq!(body["blocks"][0]["type"], "header");
        // Plain text is not mrkdwn: shown as written.
        assert_eq!(
            body["blocks"][0]["text"]["text"],
            ":white_check_mark: [RESOLVED] BTC <above> & beyond"
        );
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "BTC is at 70123.5 &lt;!channel&gt;"
        );
        let fields = body["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 6);
        assert_eq!(fields[5]["text"], "*Duration*\n1h 5m 3s");
        assert!(text.contains("venue=\\\"&lt;script&gt;\\\""), "{text}");
        assert!(
            !text.contains("<!channel>") && !text.contains("<script>"),
            "{text}"
        );
    }
}
