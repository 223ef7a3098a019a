//! Email: a subject, and the same facts as plain text and as HTML for the
//! clients that show it. Transports (SMTP, SendGrid) are the sender's.

use shared_models::{html::escape as escape_html, notification::NotifyEvent, rule::Severity};

use super::Facts;
use crate::notify::Delivery;

/// A subject line longer than this is folded or cut by mail clients.
const SUBJECT_MAX: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailBody {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render(delivery: &Delivery<'_>) -> EmailBody {
    let facts = Facts::of(delivery.event);
    EmailBody {
        subject: subject(&facts),
        text: text(&facts),
        html: html(&facts),
    }
}

/// One line: control characters (a CR or LF would start a new header)
/// become spaces.
fn subject(facts: &Facts<'_>) -> String {
    let line: String = facts
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    super::truncate(&line, SUBJECT_MAX)
}

fn rows<'f>(facts: &'f Facts<'_>) -> Vec<(&'static str, &'f str)> {
    let mut rows = vec![
        ("State", facts.state),
        ("Severity", facts.severity.as_str()),
        ("Value", facts.value.as_str()),
        ("Threshold", facts.threshold.as_str()),
        ("Condition", facts.event.condition.as_str()),
        ("Started", facts.started.as_str()),
    ];
    if let Some(duration) = &facts.duration {
        rows.push(("Duration", duration.as_str()));
    }
    rows.push(("Rule", facts.event.rule_id.as_str()));
    rows.push(("Alert", facts.event.alert_id.as_str()));
    rows
}

fn text(facts: &Facts<'_>) -> String {
    let mut out = format!("{}\n\n{}\n\n", facts.title, facts.message());
    for (name, value) in rows(facts) {
        out.push_str(&format!("{name}: {value}\n"));
    }
    if !facts.event.labels.is_empty() {
        out.push_str(&format!("Labels: {}\n", facts.labels_text()));
    }
    if let Some(description) = &facts.event.description {
        out.push_str(&format!("\n{description}\n"));
    }
    out
}

fn html(facts: &Facts<'_>) -> String {
    let colour = colour(facts.event.event, facts.severity);
    let mut out = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n\
         <h2 style=\"color:{colour}\">{}</h2>\n<p>{}</p>\n<table cellpadding=\"4\">\n",
        escape_html(&facts.title),
        escape_html(facts.message()),
    );
    let mut row = |name: &str, value: &str| {
        out.push_str(&format!(
            "<tr><th align=\"left\">{name}</th><td>{}</td></tr>\n",
            escape_html(value)
        ));
    };
    for (name, value) in rows(facts) {
        row(name, value);
    }
    if !facts.event.labels.is_empty() {
        row("Labels", &facts.labels_text());
    }
    out.push_str("</table>\n");
    if let Some(description) = &facts.event.description {
        out.push_str(&format!("<p>{}</p>\n", escape_html(description)));
    }
    out.push_str("</body></html>\n");
    out
}

fn colour(event: NotifyEvent, severity: Severity) -> &'static str {
    match (event, severity) {
        (NotifyEvent::Resolved, _) => "#2e7d32",
        (NotifyEvent::Test, _) => "#616161",
        (_, Severity::Critical) => "#d32f2f",
        (_, Severity::Warning) => "#e65100",
        (_, Severity::Info) => "#1976d2",
    }
}

#[cfg(test)]
mod tests {
    use shared_models::channel::{ChannelConfig, EmailConfig};

    use super::*;
    use crate::notify::render::tests::{delivery, sample};

    #[test]
    fn html_escapes_and_text_does_not() {
        let channel = ChannelConfig::Email(EmailConfig::Sendgrid {
            api_key: "SG.x".to_owned(),
            from: "a@example.com".to_owned(),
            to: vec!["b@example.com".to_owned()],
            api_url: "https://api.sendgrid.com/v3/mail/send".to_owned(),
        });
        let mut event = sample(NotifyEvent::Firing);
        event.rule_name = "BTC <b>\r\nBcc: x@evil.com".to_owned();
        event.description = Some("see \"runbook\" & <a href=x>".to_owned());
        let body = render(&delivery(&event, &channel));
        assert_eq!(body.subject, "[FIRING] BTC <b>  Bcc: x@evil.com");
        assert!(body.text.contains("Value: 70123.5\n"), "{}", body.text);
        assert!(body.text.contains("see \"runbook\" & <a href=x>"));
        assert!(body.html.contains("&lt;b&gt;"), "{}", body.html);
        assert!(
            body.html
                .contains("see &quot;runbook&quot; &amp; &lt;a href=x&gt;")
        );
        assert!(body.html.contains("venue=&quot;&lt;script&gt;&quot;"));
        assert!(!body.html.contains("<script>") && !body.html.contains("<a href"));
    }
}
