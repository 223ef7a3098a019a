//! The last line of defence for stored text: whatever a receiver echoes
//! back, or a library puts in an error, a channel's credentials are cut out
//! before the text leaves the sender.

use shared_models::channel::{ChannelConfig, EmailConfig, WEBHOOK_SECRET_PREFIX};

/// Shorter values are not searched for: they would match ordinary words,
/// and text that happens to contain three letters of a password does not
/// disclose it.
const MIN_SECRET_CHARS: usize = 4;
/// URL parts at least this long are treated as tokens (Slack's is 24
/// characters, Discord's 68, a Teams signature 43).
const MIN_TOKEN_PART_CHARS: usize = 12;

/// `text` with every credential of `channel` replaced by `…`: the URL with
/// its path and query, each long path segment and query value, signing
/// secrets, routing and API keys, and passwords.
pub fn redact_secrets(channel: &ChannelConfig, text: &str) -> String {
    let mut secrets = secrets(channel);
    // Longest first, so that a URL goes whole before a part of it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.chars().count() >= MIN_SECRET_CHARS && out.contains(&secret) {
            out = out.replace(&secret, "…");
        }
    }
    out
}

fn secrets(channel: &ChannelConfig) -> Vec<String> {
    let mut found = Vec::new();
    match channel {
        ChannelConfig::Slack { webhook_url }
        | ChannelConfig::Discord { webhook_url }
        | ChannelConfig::Teams { webhook_url } => url_parts(webhook_url, &mut found),
        ChannelConfig::Webhook {
            url,
            signing_secret,
        } => {
            url_parts(url, &mut found);
            found.push(signing_secret.clone());
            if let Some(key) = signing_secret.strip_prefix(WEBHOOK_SECRET_PREFIX) {
                found.push(key.to_owned());
            }
        }
        ChannelConfig::Pagerduty {
            routing_key,
            events_url,
        } => {
            found.push(routing_key.clone());
            url_parts(events_url, &mut found);
        }
        ChannelConfig::Email(EmailConfig::Sendgrid {
            api_key, api_url, ..
        }) => {
            found.push(api_key.clone());
            url_parts(api_url, &mut found);
        }
        ChannelConfig::Email(EmailConfig::Smtp { password, .. }) => {
            found.extend(password.iter().cloned());
        }
    }
    found
}

fn url_parts(raw: &str, found: &mut Vec<String>) {
    found.push(raw.to_owned());
    let Ok(url) = url::Url::parse(raw) else {
        return;
    };
    let path_and_query = &url[url::Position::BeforePath..];
    if path_and_query.len() > 1 {
        found.push(path_and_query.to_owned());
    }
    let segments = url.path().split('/').map(str::to_owned);
    let values = url.query_pairs().map(|(_, v)| v.into_owned());
    found.extend(
        segments
            .chain(values)
            .filter(|part| part.chars().count() >= MIN_TOKEN_PART_CHARS),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_credentials_are_cut_out() {
        let slack = ChannelConfig::Slack {
            webhook_url: "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXabcd".to_owned(),
        };
        let text = "bad token XXXXsecretXXXXabcd for https://hooks.slack.com/services/T000/B000/XXXXsecretXXXXabcd";
        assert_eq!(redact_secrets(&slack, text), "bad token … for …");

        let teams = ChannelConfig::Teams {
            webhook_url: "https://x.logic.azure.com/workflows/1/triggers/manual/paths/invoke?api-version=1&sig=SIGsecretSIGsecretSIG".to_owned(),
        };
        assert_eq!(
            redact_secrets(&teams, "sig SIGsecretSIGsecretSIG refused"),
            "sig … refused"
        );

        let webhook = ChannelConfig::Webhook {
            url: "https://example.com/h".to_owned(),
            signing_secret: "whsec_c2VjcmV0LWtleS1ieXRlcw==".to_owned(),
        };
        assert_eq!(
            redact_secrets(
                &webhook,
                "key c2VjcmV0LWtleS1ieXRlcw== or whsec_c2VjcmV0LWtleS1ieXRlcw=="
            ),
            "key … or …"
        );

        let smtp = ChannelConfig::Email(EmailConfig::Smtp {
            host: "smtp.example.com".to_owned(),
            port: 587,
            security: shared_models::channel::SmtpSecurity::Starttls,
            username: Some("u".to_owned()),
            password: Some("hunter22".to_owned()),
            from: "a@example.com".to_owned(),
            to: vec!["b@example.com".to_owned()],
        });
        assert_eq!(
            redact_secrets(&smtp, "535 auth hunter22 failed"),
            "535 auth … failed"
        );
        assert_eq!(redact_secrets(&smtp, "nothing to hide"), "nothing to hide");
    }
}
