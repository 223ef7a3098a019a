//! The sender against real local receivers: each platform's payload as it
//! arrives, the webhook signature as a receiver verifies it, email over SMTP
//! and SendGrid, how answers are classified, and the egress guard refusing
//! every non-public destination before a connection is made.

#[path = "support/smtp.rs"]
mod smtp;

use std::{collections::BTreeMap, time::Duration};

use alert_worker::notify::{Attempt, Delivery, send::Sender};
use alert_worker::testing::receiver::{Receiver, Recorded, Reply};
use base64::{Engine, engine::general_purpose::STANDARD};
use ring::hmac;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use shared_models::outbound::{
    FetchError, HttpFailure,
    egress::{EgressError, EgressPolicy},
};
use shared_models::{
    chain,
    channel::{ChannelConfig, EmailConfig, SmtpSecurity},
    notification::{NotificationEvent, NotifyEvent},
    rule::Severity,
};
use smtp::{SmtpScript, SmtpServer};

/// 2026-01-01T01:05:04Z, the attempt's clock.
const NOW_MS: i64 = 1_767_229_504_000;
const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn event(kind: NotifyEvent) -> NotificationEvent {
    NotificationEvent {
        event: kind,
        alert_id: "alr_01JBTC".to_owned(),
        rule_id: "rul_01JRULE".to_owned(),
        rule_name: "BTC <above> 70k".to_owned(),
        severity: Severity::Critical,
        value: Some(70_123.5),
        threshold: Some(70_000.0),
        condition: "last(crypto.price{symbol=\"BTC\"}) over 5m > 70000".to_owned(),
        labels: BTreeMap::from([("symbol".to_owned(), "BTC".to_owned())]),
        started_at: 1_767_225_600_000,
        resolved_at: (kind == NotifyEvent::Resolved).then_some(1_767_229_503_000),
        message: "BTC is at 70123.5 & rising".to_owned(),
        description: None,
    }
}

fn delivery<'a>(event: &'a NotificationEvent, channel: &'a ChannelConfig) -> Delivery<'a> {
    Delivery {
        id: "ntf_01JDELIVERY",
        event,
        channel,
        channel_name: "ops",
        now_ms: NOW_MS,
    }
}

fn sender(allowlist: &[&str], timeout: Duration) -> Sender {
    let entries: Vec<String> = allowlist.iter().map(|e| (*e).to_owned()).collect();
    Sender::new(EgressPolicy::from_entries(&entries).unwrap(), timeout).unwrap()
}

/// The tests' receivers listen on 127.0.0.1, which the operator allowlists.
fn local_sender() -> Sender {
    sender(&["127.0.0.1/32"], Duration::from_secs(10))
}

async fn send(sender: &Sender, channel: &ChannelConfig, kind: NotifyEvent) -> Attempt {
    let event = event(kind);
    sender.send(&delivery(&event, channel)).await
}

fn assert_delivered(attempt: &Attempt, status: u16) {
    assert!(
        matches!(attempt, Attempt::Delivered { status: Some(s), .. } if *s == status),
        "{attempt:?}"
    );
}

fn error_of(attempt: &Attempt) -> &str {
    match attempt {
        Attempt::Retry { error, .. } | Attempt::Permanent { error, .. } => error,
        Attempt::Delivered { .. } => panic!("delivered: {attempt:?}"),
    }
}

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

fn smtp_channel(server: &SmtpServer) -> ChannelConfig {
    ChannelConfig::Email(EmailConfig::Smtp {
        host: "127.0.0.1".to_owned(),
        port: server.addr.port(),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "alerts@example.com".to_owned(),
        to: vec![
            "ops@example.com".to_owned(),
            "oncall@example.org".to_owned(),
        ],
    })
}

#[tokio::test]
async fn email_goes_over_smtp_as_text_and_html() {
    let server = SmtpServer::start(SmtpScript::default()).await;
    let channel = smtp_channel(&server);
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert_delivered(&attempt, 250);
    let mails = server.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, ["ops@example.com", "oncall@example.org"]);
    assert_eq!(mail.header("From").as_deref(), Some("alerts@example.com"));
    assert_eq!(
        mail.header("To").as_deref(),
        Some("ops@example.com, oncall@example.org")
    );
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[FIRING] BTC <above> 70k")
    );
    let text = mail.part("text/plain").expect("a text part");
    assert!(text.contains("BTC is at 70123.5 & rising"), "{text}");
    assert!(text.contains("Threshold: 70000"), "{text}");
    let html = mail.part("text/html").expect("an html part");
    assert!(
        html.contains("<h2 style=\"color:#d32f2f\">[FIRING] BTC &lt;above&gt; 70k</h2>"),
        "{html}"
    );
    assert!(html.contains("BTC is at 70123.5 &amp; rising"), "{html}");
    assert!(!html.contains("<above>"), "{html}");
}

#[tokio::test]
async fn smtp_4xx_retries_and_5xx_is_permanent() {
    let busy = SmtpServer::start(SmtpScript {
        rcpt: Some("451 4.3.0 try again later".to_owned()),
        data_end: None,
    })
    .await;
    let attempt = send(&local_sender(), &smtp_channel(&busy), NotifyEvent::Firing).await;
    assert!(
        matches!(
            &attempt,
            Attempt::Retry {
                status: Some(451),
                ..
            }
        ),
        "{attempt:?}"
    );
    let refusing = SmtpServer::start(SmtpScript {
        rcpt: None,
        data_end: Some("554 5.7.1 message refused".to_owned()),
    })
    .await;
    let attempt = send(
        &local_sender(),
        &smtp_channel(&refusing),
        NotifyEvent::Firing,
    )
    .await;
    assert!(
        matches!(
            &attempt,
            Attempt::Permanent {
                status: Some(554),
                ..
            }
        ),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("message refused"),
        "{attempt:?}"
    );
    assert!(busy.mails().is_empty() && refusing.mails().is_empty());
}

#[tokio::test]
async fn sendgrid_receives_v3_mail_send_with_the_bearer_key() {
    let receiver = Receiver::scripted([Reply::status(202)]).await;
    let channel = ChannelConfig::Email(EmailConfig::Sendgrid {
        api_key: "SG.sendgridkey.sendgridsecret".to_owned(),
        from: "alerts@example.com".to_owned(),
        to: vec!["ops@example.com".to_owned()],
        api_url: receiver.url("/v3/mail/send"),
    });
    let attempt = send(&local_sender(), &channel, NotifyEvent::Test).await;
    assert_delivered(&attempt, 202);
    let request = receiver.single();
    assert_eq!(request.path, "/v3/mail/send");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer SG.sendgridkey.sendgridsecret")
    );
    let body = request.json();
    assert_eq!(
        body["personalizations"],
        json!([{"to": [{"email": "ops@example.com"}]}])
    );
    assert_eq!(body["from"], json!({"email": "alerts@example.com"}));
    assert_eq!(body["subject"], "[TEST] BTC <above> 70k");
    assert_eq!(body["content"][0]["type"], "text/plain");
    assert_eq!(body["content"][1]["type"], "text/html");
    assert!(
        body["content"][1]["value"]
            .as_str()
            .unwrap()
            .contains("BTC &lt;above&gt; 70k")
    );
}

fn slack_to(receiver: &Receiver) -> ChannelConfig {
    ChannelConfig::Slack {
        webhook_url: receiver.url("/services/T1/B1/thisisthesecrettoken"),
    }
}

#[tokio::test]
async fn answers_are_classified_by_status() {
    let in_two_minutes = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_millis((NOW_MS + 120_000) as u64),
    );
    let receiver = Receiver::scripted([
        Reply::status(500).body("upstream exploded"),
        Reply::status(429).header("retry-after", "2"),
        Reply::status(503).header("retry-after", &in_two_minutes),
        Reply::status(404).body("no_service"),
        Reply::status(400).body("invalid_payload thisisthesecrettoken"),
    ])
    .await;
    let channel = slack_to(&receiver);
    let sender = local_sender();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(send(&sender, &channel, NotifyEvent::Firing).await);
    }
    assert!(
        matches!(&outcomes[0], Attempt::Retry { status: Some(500), retry_after: None, error } if error.contains("upstream exploded")),
        "{:?}",
        outcomes[0]
    );
    assert!(
        matches!(&outcomes[1], Attempt::Retry { status: Some(429), retry_after: Some(d), .. } if *d == Duration::from_secs(2)),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(&outcomes[2], Attempt::Retry { status: Some(503), retry_after: Some(d), .. } if *d == Duration::from_secs(120)),
        "{:?}",
        outcomes[2]
    );
    assert!(
        matches!(
            &outcomes[3],
            Attempt::Permanent {
                status: Some(404),
                ..
            }
        ),
        "{:?}",
        outcomes[3]
    );
    // The receiver echoed the token; what is kept shows neither it nor the
    // URL's path.
    let error = error_of(&outcomes[4]);
    assert!(matches!(
        &outcomes[4],
        Attempt::Permanent {
            status: Some(400),
            ..
        }
    ));
    assert!(error.contains("invalid_payload"), "{error}");
    assert!(
        !error.contains("thisisthesecrettoken") && !error.contains("/services/"),
        "{error}"
    );
    assert_eq!(receiver.requests().len(), 5);
}

#[tokio::test]
async fn redirects_are_refused_and_never_followed() {
    let target = Receiver::start().await;
    let redirecting =
        Receiver::scripted([Reply::status(302).header("location", &target.url("/elsewhere"))])
            .await;
    let attempt = send(
        &local_sender(),
        &slack_to(&redirecting),
        NotifyEvent::Firing,
    )
    .await;
    assert!(
        matches!(
            &attempt,
            Attempt::Permanent {
                status: Some(302),
                ..
            }
        ),
        "{attempt:?}"
    );
    assert!(error_of(&attempt).contains("redirects are not followed"));
    assert_eq!(redirecting.requests().len(), 1);
    assert!(target.requests().is_empty());
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried() {
    let hanging = Receiver::scripted([Reply::hang()]).await;
    let quick = sender(&["127.0.0.1/32"], Duration::from_millis(300));
    let attempt = send(&quick, &slack_to(&hanging), NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("no answer within 300 ms"),
        "{attempt:?}"
    );

    // A port nobody listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let channel = ChannelConfig::Slack {
        webhook_url: format!("http://127.0.0.1:{port}/services/T/B/closedportsecret"),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("could not connect to 127.0.0.1"),
        "{attempt:?}"
    );
    assert!(!error_of(&attempt).contains("closedportsecret"));
}

#[tokio::test]
async fn https_is_spoken_when_the_url_says_so() {
    // A plain HTTP server behind an https URL: the handshake must fail, which
    // shows the client does TLS (and does not fall back to plain text).
    let receiver = Receiver::start().await;
    let channel = ChannelConfig::Slack {
        webhook_url: format!("https://127.0.0.1:{}/services/T/B/x", receiver.addr.port()),
    };
    let attempt = send(&local_sender(), &channel, NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("TLS handshake with 127.0.0.1 failed"),
        "{attempt:?}"
    );
}

#[tokio::test]
async fn https_delivers_only_to_a_trusted_certificate_for_the_host() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let receiver = Receiver::start_tls(cert.clone(), key).await;
    let channel = slack_to(&receiver);
    let policy = || EgressPolicy::from_entries(&["localhost".to_owned()]).unwrap();
    let timeout = Duration::from_secs(10);

    let trusting = Sender::with_roots(policy(), timeout, std::slice::from_ref(&cert)).unwrap();
    let attempt = send(&trusting, &channel, NotifyEvent::Firing).await;
    assert_delivered(&attempt, 200);
    let request = receiver.single();
    assert_eq!(request.path, "/services/T1/B1/thisisthesecrettoken");
    assert_eq!(
        request.header("host"),
        Some(format!("localhost:{}", receiver.addr.port()).as_str())
    );

    // The public roots do not vouch for a self-signed certificate.
    let public_roots = Sender::new(policy(), timeout).unwrap();
    let attempt = send(&public_roots, &channel, NotifyEvent::Firing).await;
    assert!(
        matches!(&attempt, Attempt::Retry { status: None, .. }),
        "{attempt:?}"
    );
    assert!(
        error_of(&attempt).contains("TLS handshake with localhost failed"),
        "{attempt:?}"
    );

    // A trusted certificate for another name does not do either.
    let by_address = ChannelConfig::Slack {
        webhook_url: format!("https://127.0.0.1:{}/services/T/B/x", receiver.addr.port()),
    };
    let trusting_by_address = Sender::with_roots(
        EgressPolicy::from_entries(&["127.0.0.1/32".to_owned()]).unwrap(),
        timeout,
        &[cert],
    )
    .unwrap();
    let attempt = send(&trusting_by_address, &by_address, NotifyEvent::Firing).await;
    assert!(
        error_of(&attempt).contains("TLS handshake with 127.0.0.1 failed"),
        "{attempt:?}"
    );
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn non_public_destinations_are_refused_with_an_empty_allowlist() {
    let guarded = sender(&[], Duration::from_secs(5));
    let cases = [
        ("127.0.0.1", "loopback"),
        ("[::1]", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("[fe80::1]", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("localhost", "loopback"),
    ];
    for (host, class) in cases {
        let channel = ChannelConfig::Slack {
            webhook_url: format!("https://{host}/services/T/B/ssrfsecret"),
        };
        // The check comes first: were it to pass, the test stops before
        // anything is sent to that address.
        let refusal = guarded.check_channel(&channel).await.unwrap_err();
        assert!(
            matches!(refusal, EgressError::Forbidden { .. }),
            "{host}: {refusal}"
        );
        assert!(refusal.to_string().contains(class), "{host}: {refusal}");
        let attempt = send(&guarded, &channel, NotifyEvent::Firing).await;
        assert!(
            matches!(&attempt, Attempt::Permanent { status: None, .. }),
            "{host}: {attempt:?}"
        );
        let error = error_of(&attempt);
        assert!(error.contains(class), "{host}: {error}");
        assert!(
            !error.contains("ssrfsecret") && !error.contains("/services"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn plain_http_and_plain_smtp_need_the_allowlist() {
    let receiver = Receiver::start().await;
    let guarded = sender(&[], Duration::from_secs(5));
    // A public address over plain http: refused for the scheme alone.
    let public = ChannelConfig::Webhook {
        url: "http://93.184.216.34/hook".to_owned(),
        signing_secret: SECRET.to_owned(),
    };
    let refusal = guarded.check_channel(&public).await.unwrap_err();
    assert!(
        matches!(refusal, EgressError::PlainHttp { .. }),
        "{refusal}"
    );
    let attempt = send(&guarded, &public, NotifyEvent::Firing).await;
    assert!(error_of(&attempt).contains("plain http"), "{attempt:?}");

    let local = slack_to(&receiver);
    assert!(guarded.check_channel(&local).await.is_err());
    let listed = sender(&["127.0.0.1"], Duration::from_secs(5));
    listed.check_channel(&local).await.unwrap();
    assert_delivered(&send(&listed, &local, NotifyEvent::Firing).await, 200);
    // A host name on the allowlist admits whatever it resolves to.
    let by_name = sender(&["LOCALHOST"], Duration::from_secs(5));
    let named = ChannelConfig::Slack {
        webhook_url: format!("http://localhost:{}/services/T/B/x", receiver.addr.port()),
    };
    by_name.check_channel(&named).await.unwrap();

    let smtp = SmtpServer::start(SmtpScript::default()).await;
    let channel = smtp_channel(&smtp);
    let refusal = guarded.check_channel(&channel).await.unwrap_err();
    assert!(
        matches!(refusal, EgressError::Forbidden { .. }),
        "{refusal}"
    );
    let attempt = send(&guarded, &channel, NotifyEvent::Firing).await;
    assert!(matches!(&attempt, Attempt::Permanent { .. }), "{attempt:?}");
    let public_smtp = ChannelConfig::Email(EmailConfig::Smtp {
        host: "93.184.216.34".to_owned(),
        port: 25,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "alerts@example.com".to_owned(),
        to: vec!["ops@example.com".to_owned()],
    });
    let refusal = guarded.check_channel(&public_smtp).await.unwrap_err();
    assert!(
        matches!(refusal, EgressError::PlainSmtp { .. }),
        "{refusal}"
    );
    assert!(smtp.mails().is_empty());
}

#[tokio::test]
async fn fetch_gets_a_document_with_its_caching_headers() {
    let receiver = Receiver::scripted([Reply::status(200)
        .header("content-type", "application/json")
        .header("cache-control", "max-age=600")
        .body(r#"{"client_id":"x"}"#)])
    .await;
    let fetched = local_sender()
        .client()
        .fetch(&receiver.url("/client.json?v=1"), 1024)
        .await
        .unwrap();
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.content_type.as_deref(), Some("application/json"));
    assert_eq!(fetched.cache_control.as_deref(), Some("max-age=600"));
    assert_eq!(fetched.body, br#"{"client_id":"x"}"#);
    let request = receiver.single();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/client.json?v=1");
    assert_eq!(request.header("accept"), Some("application/json"));
    assert!(request.header("content-type").is_none());
}

#[tokio::test]
async fn fetch_reads_no_more_than_it_may() {
    let chunk = "x".repeat(1024);
    let receiver = Receiver::scripted([
        // Exactly the limit, streamed.
        Reply::status(200).streamed(&chunk, 4),
        // One chunk over it, streamed: only reading tells.
        Reply::status(200).streamed(&chunk, 5),
        // Endless as far as the reader knows (a gigabyte).
        Reply::status(200).streamed(&chunk, 1 << 20),
        // Declared too long: refused on the header.
        Reply::status(200).body(&"y".repeat(5000)),
    ])
    .await;
    let sender = local_sender();
    let url = receiver.url("/doc");
    assert_eq!(
        sender.client().fetch(&url, 4096).await.unwrap().body.len(),
        4096
    );
    for _ in 0..3 {
        let error = sender.client().fetch(&url, 4096).await.unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::Http(HttpFailure::TooLarge { limit: 4096, .. })
            ),
            "{error:?}"
        );
        assert!(
            chain(&error).contains("127.0.0.1 sent a body larger than 4096 bytes"),
            "{}",
            chain(&error)
        );
    }
    assert_eq!(receiver.requests().len(), 4);
}

#[tokio::test]
async fn fetch_returns_redirects_and_errors_as_answers() {
    let target = Receiver::start().await;
    let receiver = Receiver::scripted([
        Reply::status(301).header("location", &target.url("/moved")),
        Reply::status(404).body("no such client"),
    ])
    .await;
    let sender = local_sender();
    let moved = sender
        .client()
        .fetch(&receiver.url("/c"), 1024)
        .await
        .unwrap();
    assert_eq!(moved.status, 301);
    let missing = sender
        .client()
        .fetch(&receiver.url("/c"), 1024)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, b"no such client");
    assert!(target.requests().is_empty());
}

#[tokio::test]
async fn fetch_goes_through_the_egress_guard_and_the_timeout() {
    let receiver = Receiver::start().await;
    let guarded = sender(&[], Duration::from_secs(5));
    let error = guarded
        .client()
        .fetch(&receiver.url("/client.json"), 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Egress(EgressError::Forbidden { .. })),
        "{error:?}"
    );
    let error = guarded
        .client()
        .fetch("https://169.254.169.254/latest/meta-data/", 1024)
        .await
        .unwrap_err();
    assert!(
        chain(&error).contains("cloud metadata"),
        "{}",
        chain(&error)
    );
    assert!(receiver.requests().is_empty());

    let hanging = Receiver::scripted([Reply::hang()]).await;
    let quick = sender(&["127.0.0.1/32"], Duration::from_millis(300));
    let error = quick
        .client()
        .fetch(&hanging.url("/client.json"), 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FetchError::Timeout { host, .. } if host == "127.0.0.1"),
        "{error:?}"
    );
    assert!(error.to_string().contains("300 ms"), "{error}");
}
