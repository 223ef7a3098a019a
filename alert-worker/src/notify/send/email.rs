//! Email delivery: SMTP through lettre, connected to an address the egress
//! guard checked while TLS verifies the configured host name, and the
//! SendGrid v3 request body.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        Error as SmtpError,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use serde_json::{Value, json};
use shared_models::{channel::SmtpSecurity, outbound::egress::SmtpTarget};

use crate::{
    error::chain,
    notify::{Attempt, render::email::EmailBody},
};

/// An SMTP channel's settings, borrowed from its configuration.
pub(super) struct Smtp<'a> {
    pub security: SmtpSecurity,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a [String],
}

/// Sends one message, trying the checked addresses in order while the
/// failure is reaching the server rather than something it said.
pub(super) async fn send_smtp(
    smtp: &Smtp<'_>,
    target: &SmtpTarget,
    body: &EmailBody,
    timeout: Duration,
) -> Attempt {
    let message = match message(smtp, body) {
        Ok(message) => message,
        Err(error) => {
            return Attempt::Permanent {
                status: None,
                error,
            };
        }
    };
    let tls = match tls(smtp.security, &target.host) {
        Ok(tls) => tls,
        Err(error) => {
            return Attempt::Permanent {
                status: None,
                error: format!("TLS setup for {}: {}", target.host, chain(&error)),
            };
        }
    };
    let mut last = None;
    for addr in &target.addrs {
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(addr.port())
                .tls(tls.clone())
                .timeout(Some(timeout));
        if let (Some(username), Some(password)) = (smtp.username, smtp.password) {
            builder =
                builder.credentials(Credentials::new(username.to_owned(), password.to_owned()));
        }
        let transport = builder.build();
        match transport.send(message.clone()).await {
            Ok(response) => {
                let detail = response.message().collect::<Vec<_>>().join(" ");
                return Attempt::Delivered {
                    status: Some(u16::from(response.code())),
                    detail,
                };
            }
            Err(error) if unreached(&error) => last = Some((addr, error)),
            Err(error) => return outcome(&target.host, &error),
        }
    }
    match last {
        Some((addr, error)) => Attempt::Retry {
            status: None,
            retry_after: None,
            error: format!("SMTP server {} ({addr}): {}", target.host, chain(&error)),
        },
        None => Attempt::Retry {
            status: None,
            retry_after: None,
            error: format!("SMTP server {} has no address", target.host),
        },
    }
}

/// No SMTP reply was involved: the next address may do better.
fn unreached(error: &SmtpError) -> bool {
    !(error.is_transient()
        || error.is_permanent()
        || error.is_client()
        || error.is_response()
        || error.is_tls())
}

/// 4xx replies are the server asking to try later; 5xx replies and
/// messages lettre itself refuses are final.
fn outcome(host: &str, error: &SmtpError) -> Attempt {
    let status = error.status().map(u16::from);
    let error_text = format!("SMTP server {host}: {}", chain(error));
    if error.is_permanent() || error.is_client() {
        Attempt::Permanent {
            status,
            error: error_text,
        }
    } else {
        Attempt::Retry {
            status,
            retry_after: None,
            error: error_text,
        }
    }
}

fn tls(security: SmtpSecurity, host: &str) -> Result<Tls, SmtpError> {
    let parameters = || TlsParameters::builder(host.to_owned()).build_rustls();
    Ok(match security {
        SmtpSecurity::Starttls => Tls::Required(parameters()?),
        SmtpSecurity::Tls => Tls::Wrapper(parameters()?),
        SmtpSecurity::None => Tls::None,
    })
}

fn message(smtp: &Smtp<'_>, body: &EmailBody) -> Result<Message, String> {
    let mailbox = |field: &str, raw: &str| {
        raw.parse::<Mailbox>()
            .map_err(|e| format!("the {field} address is not usable: {e}"))
    };
    let mut builder = Message::builder()
        .from(mailbox("from", smtp.from)?)
        .subject(body.subject.clone());
    for to in smtp.to {
        builder = builder.to(mailbox("to", to)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            body.text.clone(),
            body.html.clone(),
        ))
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// SendGrid's v3 `mail/send` body: one personalization for all recipients,
/// text before HTML as the API requires.
pub(super) fn sendgrid_body(from: &str, to: &[String], body: &EmailBody) -> Value {
    let to: Vec<Value> = to.iter().map(|address| json!({"email": address})).collect();
    json!({
        "personalizations": [{"to": to}],
        "from": {"email": from},
        "subject": body.subject,
        "content": [
            {"type": "text/plain", "value": body.text},
            {"type": "text/html", "value": body.html},
        ],
    })
}
