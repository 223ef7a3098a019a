//! The sender against real local receivers: each platform's payload as it
//! arrives, the webhook signature as a receiver verifies it, email over SMTP
//! and SendGrid, how answers are classified, and the egress guard refusing
//! every non-public destination before a connection is made.

mod delivery;
mod egress;
mod email;
mod fetch;
mod platforms;

use std::{collections::BTreeMap, time::Duration};

use crate::notify::{Attempt, Delivery, send::Sender};
use crate::testing::receiver::{Receiver, Recorded, Reply};
use crate::testing::smtp::{SmtpScript, SmtpServer};
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
    time::Timestamp,
};

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
        now: Timestamp::from_millis(NOW_MS),
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

fn slack_to(receiver: &Receiver) -> ChannelConfig {
    ChannelConfig::Slack {
        webhook_url: receiver.url("/services/T1/B1/thisisthesecrettoken"),
    }
}
