//! Each platform's payload as it arrives, and the webhook signature as a
//! receiver verifies it.

use super::*;

#[tokio::test]
async fn slack_receives_block_kit_with_a_text_fallback() {
    let receiver = Receiver::start().await;
    let channel = ChannelConfig::Slack {
        webhook_url: receiver.url("/services/T0001/B0001/slacktokenslacktoken"),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert_eq!(
        attempt,
        Attempt::Delivered {
            status: Some(200),
            detail: "ok".to_owned()
        }
    );
    let request = receiver.single();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/services/T0001/B0001/slacktokenslacktoken");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("monitors-mcp/")
    );
    let body = request.json();
    assert_eq!(
        body["text"],
        ":red_circle: [FIRING] BTC &lt;above&gt; 70k: BTC is at 70123.5 &amp; rising"
    );
    let blocks = body["blocks"].as_array().unwrap();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["header", "section", "section", "section", "context"]
    );
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    let fields: Vec<&str> = blocks[2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*State*\nFiring",
            "*Severity*\ncritical",
            "*Value*\n70123.5",
            "*Threshold*\n70000",
            "*Started*\n2026-01-01T00:00:00.000Z"
        ]
    );
    assert!(
        blocks[3]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("over 5m &gt; 70000")
    );
    assert_eq!(blocks[4]["elements"][0]["text"], "*Labels* symbol=\"BTC\"");
}

#[tokio::test]
async fn discord_receives_an_embed() {
    let receiver = Receiver::scripted([Reply::status(204)]).await;
    let channel = ChannelConfig::Discord {
        webhook_url: receiver.url("/api/webhooks/1234/discordtokendiscordtoken"),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Resolved).await;
    assert_delivered(&attempt, 204);
    let body = receiver.single().json();
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "[RESOLVED] BTC <above> 70k");
    assert_eq!(embed["color"], 0x2E7D32);
    assert_eq!(embed["timestamp"], "2026-01-01T01:05:03.000Z");
    let field = |name: &str| {
        embed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["value"].clone())
    };
    assert_eq!(field("Duration"), Some(json!("1h 5m 3s")));
    assert_eq!(field("Threshold"), Some(json!("70000")));
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
}

#[tokio::test]
async fn teams_receives_an_adaptive_card() {
    let receiver = Receiver::scripted([Reply::status(202)]).await;
    let channel = ChannelConfig::Teams {
        webhook_url: receiver.url("/workflows/abc/triggers/manual/paths/invoke?sig=teamssignature"),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert_delivered(&attempt, 202);
    let request = receiver.single();
    assert_eq!(
        request.path,
        "/workflows/abc/triggers/manual/paths/invoke?sig=teamssignature"
    );
    let body = request.json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][0]["color"], "attention");
    assert_eq!(card["body"][2]["type"], "FactSet");
    assert_eq!(
        card["body"][2]["facts"][2],
        json!({"title": "Value", "value": "70123.5"})
    );
}

/// Standard Webhooks verification written from the specification, sharing
/// no code with the sender: the key is the base64 after `whsec_`, the signed
/// content `{id}.{timestamp}.{body}`, and any `v1,` signature may match.
fn verify_standard_webhook(secret: &str, request: &Recorded) -> Result<(), String> {
    let id = request.header("webhook-id").ok_or("no webhook-id")?;
    let timestamp = request
        .header("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let signatures = request
        .header("webhook-signature")
        .ok_or("no webhook-signature")?;
    let key_bytes = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("no prefix")?)
        .map_err(|e| e.to_string())?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(&request.body);
    let matched = signatures.split(' ').any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(|sig| STANDARD.decode(sig).ok())
            .is_some_and(|sig| hmac::verify(&key, &content, &sig).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err("no signature matches".to_owned())
    }
}

#[tokio::test]
async fn webhooks_are_signed_per_standard_webhooks() {
    let receiver = Receiver::start().await;
    let channel = ChannelConfig::Webhook {
        url: receiver.url("/hooks/alerts"),
        signing_secret: SECRET.to_owned(),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Repeat).await;
    assert_delivered(&attempt, 200);
    let request = receiver.single();
    assert_eq!(request.header("webhook-id"), Some("ntf_01JDELIVERY"));
    assert_eq!(request.header("webhook-timestamp"), Some("1767229504"));
    verify_standard_webhook(SECRET, &request).unwrap();

    let mut tampered = request.clone();
    tampered.body = tampered.body.slice(1..);
    assert!(verify_standard_webhook(SECRET, &tampered).is_err());
    let other = "whsec_b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMDA=";
    assert!(verify_standard_webhook(other, &request).is_err());

    let body = request.json();
    assert_eq!(body["type"], "alert.repeat");
    assert_eq!(body["timestamp"], "2026-01-01T01:05:04.000Z");
    assert_eq!(body["data"]["alert_id"], "alr_01JBTC");
    assert_eq!(body["data"]["rule_name"], "BTC <above> 70k");
    assert_eq!(body["data"]["labels"], json!({"symbol": "BTC"}));
    assert_eq!(body["data"]["value"], 70_123.5);
}

#[tokio::test]
async fn pagerduty_trigger_and_resolve_share_the_dedup_key() {
    let receiver = Receiver::scripted([Reply::status(202), Reply::status(202)]).await;
    let channel = ChannelConfig::Pagerduty {
        routing_key: "R0123456789abcdef0123456789abcde".to_owned(),
        events_url: receiver.url("/v2/enqueue"),
    };
    let sender = local_sender();
    assert_delivered(&send(&sender, &channel, NotifyEvent::Firing).await, 202);
    assert_delivered(&send(&sender, &channel, NotifyEvent::Resolved).await, 202);
    let requests = receiver.requests();
    let trigger = requests[0].json();
    assert_eq!(trigger["routing_key"], "R0123456789abcdef0123456789abcde");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "alr_01JBTC");
    let payload = &trigger["payload"];
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["source"], "monitors-mcp");
    assert_eq!(payload["timestamp"], "2026-01-01T00:00:00.000Z");
    assert_eq!(
        payload["summary"],
        "[FIRING] BTC <above> 70k: BTC is at 70123.5 & rising"
    );
    assert_eq!(payload["custom_details"]["threshold"], 70_000.0);
    let resolve = requests[1].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], "alr_01JBTC");
}
