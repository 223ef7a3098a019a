//! What clients, logs and errors may see of a channel's configuration: the
//! shape and destination host, never a credential in full.

use serde_json::{Value, json};

use super::{ChannelConfig, EmailConfig};

/// Scheme and host, then the last four characters of the rest, which is
/// enough to tell two webhooks apart and not enough to use either.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}/…{}", url.scheme(), tail(url.path(), 4))
        }
        Err(_) => "…".to_owned(),
    }
}

fn tail(value: &str, chars: usize) -> String {
    let count = value.chars().count();
    // Short values are shown not at all: four of six characters is most of it.
    if count < chars * 3 {
        return String::new();
    }
    value.chars().skip(count - chars).collect()
}

fn redact_token(value: &str) -> String {
    format!("…{}", tail(value, 4))
}

impl ChannelConfig {
    pub fn redacted(&self) -> Value {
        match self {
            Self::Slack { webhook_url }
            | Self::Discord { webhook_url }
            | Self::Teams { webhook_url } => json!({ "webhook_url": redact_url(webhook_url) }),
            Self::Webhook { url, .. } => json!({
                "url": redact_url(url),
                "signing_secret": "whsec_…",
            }),
            Self::Pagerduty {
                routing_key,
                events_url,
            } => json!({
                "routing_key": redact_token(routing_key),
                "events_url": redact_url(events_url),
            }),
            Self::Email(EmailConfig::Smtp {
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            }) => json!({
                "transport": "smtp",
                "host": host,
                "port": port,
                "security": security,
                "username": username,
                "password": password.as_ref().map(|_| "…"),
                "from": from,
                "to": to,
            }),
            Self::Email(EmailConfig::Sendgrid {
                api_key,
                from,
                to,
                api_url,
            }) => json!({
                "transport": "sendgrid",
                "api_key": redact_token(api_key),
                "from": from,
                "to": to,
                "api_url": redact_url(api_url),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelKind;

    #[test]
    fn a_slack_url_shows_host_and_tail_only() {
        let shown = redact_url("https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXabcd");
        assert_eq!(shown, "https://hooks.slack.com/…abcd");
    }

    #[test]
    fn no_secret_survives_redaction() {
        let secrets = [
            (
                ChannelKind::Slack,
                serde_json::json!({"webhook_url": "https://hooks.slack.com/services/T1/B1/supersecrettoken"}),
            ),
            (
                ChannelKind::Pagerduty,
                serde_json::json!({"routing_key": "supersecretroutingkey0123456789"}),
            ),
            (
                ChannelKind::Email,
                serde_json::json!({"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"], "username": "u", "password": "supersecretpassword"}),
            ),
            (
                ChannelKind::Email,
                serde_json::json!({"transport": "sendgrid", "api_key": "SG.supersecretkey", "from": "a@example.com", "to": ["b@example.com"]}),
            ),
        ];
        for (kind, input) in secrets {
            let config = ChannelConfig::parse(kind, input, "whsec_supersecret").unwrap();
            let shown = config.redacted().to_string();
            assert!(!shown.contains("supersecret"), "{shown}");
        }
        let webhook = ChannelConfig::parse(
            ChannelKind::Webhook,
            serde_json::json!({"url": "https://example.com/h"}),
            "whsec_supersecret",
        )
        .unwrap();
        assert!(!webhook.redacted().to_string().contains("supersecret"));
    }
}
