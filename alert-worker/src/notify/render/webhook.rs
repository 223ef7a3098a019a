//! The generic webhook: a Standard Webhooks envelope (`type`, `timestamp`,
//! `data`) around the notification's own fields, for receivers that parse
//! rather than display.

use serde_json::{Value, json};
use shared_models::{notification::NotifyEvent, time::format_millis};

use crate::notify::Delivery;

pub fn render(delivery: &Delivery<'_>) -> Value {
    let event = delivery.event;
    let mut data = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    if let Some(object) = data.as_object_mut() {
        object.insert("notification_id".to_owned(), json!(delivery.id));
        object.insert(
            "started_at_iso".to_owned(),
            json!(format_millis(event.started_at)),
        );
        if let Some(resolved_at) = event.resolved_at {
            object.insert(
                "resolved_at_iso".to_owned(),
                json!(format_millis(resolved_at)),
            );
        }
        if let Some(duration) = event.duration_ms() {
            object.insert("duration_ms".to_owned(), json!(duration));
        }
    }
    json!({
        "type": event_type(event.event),
        "timestamp": delivery.now.to_string(),
        "data": data,
    })
}

pub fn event_type(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Firing => "alert.firing",
        NotifyEvent::Repeat => "alert.repeat",
        NotifyEvent::Resolved => "alert.resolved",
        NotifyEvent::Test => "alert.test",
    }
}

#[cfg(test)]
mod tests {
    use shared_models::channel::ChannelConfig;

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    #[test]
    fn an_envelope_around_the_event() {
        let channel = ChannelConfig::Webhook {
            url: "https://example.com/hook".to_owned(),
            signing_secret: "whsec_dGVzdA==".to_owned(),
        };
        let event = sample(NotifyEvent::Resolved);
        let body = render(&delivery(&event, &channel));
        assert_eq!(body["type"], "alert.resolved");
        assert_eq!(body["timestamp"], "2026-01-01T01:05:04.000Z");
        let data = &body["data"];
        assert_eq!(data["alert_id"], "alr_0193");
        assert_eq!(data["rule_name"], "BTC <above> & beyond");
        assert_eq!(data["severity"], "critical");
        assert_eq!(data["value"], 70_123.5);
        assert_eq!(data["labels"]["venue"], "<script>");
        assert_eq!(data["duration_ms"], 3_903_000);
        assert_eq!(data["notification_id"], "ntf_0001");
        assert_eq!(data["resolved_at_iso"], "2026-01-01T01:05:03.000Z");
    }
}
