//! Turns a [`Delivery`] into bytes on the wire: renders the platform's
//! payload, checks the destination with the egress guard, sends it, and
//! says what came of it. Built once per process and shared.

mod classify;
mod email;
mod redact;

use ::http::{HeaderMap, HeaderName, HeaderValue, header::AUTHORIZATION};
use rustls::pki_types::CertificateDer;
use shared_models::{
    channel::{ChannelConfig, EmailConfig, Endpoint, SmtpSecurity, redact_url, signing},
    config::{ConfigError, NotifySettings},
    outbound::{
        Client, ClientError, HttpFailure, PostError,
        egress::{EgressError, EgressPolicy},
    },
    time::Timestamp,
};
use std::time::Duration;

pub use self::redact::redact_secrets;
use self::{
    classify::classify,
    email::{Smtp, send_smtp, sendgrid_body},
};
use super::{Attempt, Delivery, render};
use crate::error::chain;

/// Sends notifications on top of the shared egress-guarded [`Client`]; one
/// per process, shared by the dispatcher and the gateway's
/// `test_notification_channel`.
#[derive(Debug, Clone)]
pub struct Sender {
    client: Client,
}

impl Sender {
    /// `timeout` bounds one whole attempt: DNS, connection, TLS and answer.
    pub fn new(policy: EgressPolicy, timeout: Duration) -> Result<Self, ClientError> {
        Client::new(policy, timeout).map(Self::on)
    }

    /// Like [`Sender::new`], trusting `extra_roots` for https besides the
    /// public roots (a private CA).
    pub fn with_roots(
        policy: EgressPolicy,
        timeout: Duration,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<Self, ClientError> {
        Client::with_roots(policy, timeout, extra_roots).map(Self::on)
    }

    /// The sender the configuration describes: its egress allowlist and
    /// per-attempt timeout.
    pub fn from_config(settings: &NotifySettings) -> Result<Self, ConfigError> {
        Client::from_settings(settings).map(Self::on)
    }

    /// A sender over `client`, whose policy and timeout it keeps.
    pub fn on(client: Client) -> Self {
        Self { client }
    }

    /// The client underneath, for requests that are not notifications.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn policy(&self) -> &EgressPolicy {
        self.client.policy()
    }

    /// Whether the channel's destination may be reached, as when a client
    /// creates or updates it. Within the attempt timeout: a DNS server that
    /// does not answer is reported as a failure to resolve.
    pub async fn check_channel(&self, channel: &ChannelConfig) -> Result<(), EgressError> {
        let check = async {
            match channel.endpoint() {
                Endpoint::Url(url) => self.client.policy().check_url(url).await,
                Endpoint::Smtp {
                    host,
                    port,
                    encrypted,
                } => self.client.policy().check_smtp(host, port, encrypted).await,
            }
        };
        let host = || match channel.endpoint() {
            Endpoint::Url(url) => redact_url(url),
            Endpoint::Smtp { host, .. } => host.to_owned(),
        };
        tokio::time::timeout(self.client.timeout(), check)
            .await
            .unwrap_or_else(|_| {
                Err(EgressError::Resolve {
                    host: host(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer within the notification timeout",
                    ),
                })
            })
    }

    /// One attempt. Every error and detail in the outcome has been through
    /// [`redact_secrets`] for the delivery's channel and names URLs only in
    /// their [`redact_url`] form, so it is safe to store and to show to the
    /// channel's owner.
    pub async fn send(&self, delivery: &Delivery<'_>) -> Attempt {
        let attempt =
            match tokio::time::timeout(self.client.timeout(), self.attempt(delivery)).await {
                Ok(attempt) => attempt,
                Err(_) => Attempt::Retry {
                    status: None,
                    retry_after: None,
                    error: format!(
                        "{} gave no answer within {} ms",
                        destination(delivery.channel),
                        self.client.timeout().as_millis()
                    ),
                },
            };
        scrub(delivery.channel, attempt)
    }

    async fn attempt(&self, delivery: &Delivery<'_>) -> Attempt {
        let (url, body, headers) = match delivery.channel {
            ChannelConfig::Slack { webhook_url } => (
                webhook_url,
                render::slack::render(delivery),
                HeaderMap::new(),
            ),
            ChannelConfig::Discord { webhook_url } => (
                webhook_url,
                render::discord::render(delivery),
                HeaderMap::new(),
            ),
            ChannelConfig::Teams { webhook_url } => (
                webhook_url,
                render::teams::render(delivery),
                HeaderMap::new(),
            ),
            ChannelConfig::Pagerduty {
                routing_key,
                events_url,
            } => (
                events_url,
                render::pagerduty::render(delivery, routing_key),
                HeaderMap::new(),
            ),
            ChannelConfig::Email(EmailConfig::Sendgrid {
                api_key,
                from,
                to,
                api_url,
            }) => {
                let mut headers = HeaderMap::new();
                let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {api_key}")) else {
                    return permanent("the SendGrid API key cannot be sent in a header");
                };
                bearer.set_sensitive(true);
                headers.insert(AUTHORIZATION, bearer);
                let body = sendgrid_body(from, to, &render::email::render(delivery));
                (api_url, body, headers)
            }
            ChannelConfig::Webhook {
                url,
                signing_secret,
            } => return self.webhook(url, signing_secret, delivery).await,
            ChannelConfig::Email(EmailConfig::Smtp {
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            }) => {
                let smtp = Smtp {
                    security: *security,
                    username: username.as_deref(),
                    password: password.as_deref(),
                    from,
                    to,
                };
                return self.smtp(host, *port, &smtp, delivery).await;
            }
        };
        match serde_json::to_vec(&body) {
            Ok(bytes) => self.post(url, headers, bytes, delivery.now).await,
            Err(e) => permanent(&format!("the payload could not be encoded: {e}")),
        }
    }

    async fn smtp(
        &self,
        host: &str,
        port: u16,
        smtp: &Smtp<'_>,
        delivery: &Delivery<'_>,
    ) -> Attempt {
        let encrypted = smtp.security != SmtpSecurity::None;
        match self.client.resolve_smtp(host, port, encrypted).await {
            Ok(target) => {
                send_smtp(
                    smtp,
                    &target,
                    &render::email::render(delivery),
                    self.client.timeout(),
                )
                .await
            }
            Err(error) => refused(&error),
        }
    }

    /// Standard Webhooks: the delivery id is the message id, so a receiver
    /// can drop a retry it already processed.
    async fn webhook(&self, url: &str, secret: &str, delivery: &Delivery<'_>) -> Attempt {
        let body = match serde_json::to_vec(&render::webhook::render(delivery)) {
            Ok(body) => body,
            Err(e) => return permanent(&format!("the payload could not be encoded: {e}")),
        };
        let timestamp = delivery.now.as_millis().div_euclid(1_000);
        let signature = match signing::sign(secret, delivery.id, timestamp, &body) {
            Ok(signature) => signature,
            Err(e) => return permanent(&format!("the channel's signing secret is unusable: {e}")),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("webhook-id", delivery.id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            match HeaderValue::from_str(&value) {
                Ok(value) => headers.insert(HeaderName::from_static(name), value),
                Err(_) => return permanent(&format!("the {name} header value is not valid")),
            };
        }
        self.post(url, headers, body, delivery.now).await
    }

    async fn post(&self, url: &str, headers: HeaderMap, body: Vec<u8>, now: Timestamp) -> Attempt {
        let shown = redact_url(url);
        match self.client.post(url, headers, body).await {
            Ok(answer) => classify(&answer, &shown, now),
            Err(PostError::Egress(error)) => refused(&error),
            Err(PostError::Http(
                failure @ (HttpFailure::ServerName { .. } | HttpFailure::Request(_)),
            )) => permanent(&format!("{shown}: {}", chain(&failure))),
            Err(PostError::Http(failure)) => Attempt::Retry {
                status: None,
                retry_after: None,
                error: format!("{shown}: {}", chain(&failure)),
            },
        }
    }
}

/// An egress refusal stands until the channel or the allowlist changes; a
/// failed lookup may succeed later.
fn refused(error: &EgressError) -> Attempt {
    let text = format!("destination refused: {}", chain(error));
    if error.is_refusal() {
        Attempt::Permanent {
            status: None,
            error: text,
        }
    } else {
        Attempt::Retry {
            status: None,
            retry_after: None,
            error: chain(error),
        }
    }
}

fn permanent(error: &str) -> Attempt {
    Attempt::Permanent {
        status: None,
        error: error.to_owned(),
    }
}

fn destination(channel: &ChannelConfig) -> String {
    match channel.endpoint() {
        Endpoint::Url(url) => redact_url(url),
        Endpoint::Smtp { host, port, .. } => format!("SMTP server {host}:{port}"),
    }
}

fn scrub(channel: &ChannelConfig, attempt: Attempt) -> Attempt {
    match attempt {
        Attempt::Delivered { status, detail } => Attempt::Delivered {
            status,
            detail: redact_secrets(channel, &detail),
        },
        Attempt::Retry {
            status,
            retry_after,
            error,
        } => Attempt::Retry {
            status,
            retry_after,
            error: redact_secrets(channel, &error),
        },
        Attempt::Permanent { status, error } => Attempt::Permanent {
            status,
            error: redact_secrets(channel, &error),
        },
    }
}

#[cfg(test)]
mod tests {
    use shared_models::notification::NotifyEvent;

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    fn spawnable<F: Future + Send + 'static>(_: &F) {}

    #[test]
    fn builds_without_a_process_crypto_provider_and_sends_from_any_task() {
        // Nothing in this process installs a rustls provider: the sender
        // brings its own (ring) rather than relying on one.
        let sender = std::sync::Arc::new(
            Sender::new(EgressPolicy::default(), Duration::from_secs(1)).unwrap(),
        );
        let event = sample(NotifyEvent::Firing);
        let channel = ChannelConfig::Slack {
            webhook_url: "https://hooks.slack.com/services/T/B/x".to_owned(),
        };
        let future = async move { sender.send(&delivery(&event, &channel)).await };
        // Compiles only if the attempt can run on any worker thread.
        spawnable(&future);
    }

    #[test]
    fn configuration_errors_name_the_setting() {
        let settings = NotifySettings {
            egress_allowlist: "127.0.0.1/32, *.internal".to_owned(),
            ..NotifySettings::default()
        };
        let err = Sender::from_config(&settings).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with("configuration egress_allowlist:"),
            "{shown}"
        );
        assert!(shown.contains("*.internal"), "{shown}");
    }
}
