//! Notification channels: where a rule's alerts are sent. A channel's whole
//! configuration is sealed at rest (webhook URLs and keys are credentials);
//! clients only ever see its [`ChannelConfig::redacted`] form.

mod config;
mod redact;

pub use config::{
    ChannelConfig, ChannelKind, EmailConfig, Endpoint, SmtpSecurity, WEBHOOK_SECRET_PREFIX,
};
pub use redact::redact_url;

/// What a channel's sealed configuration is bound to: its own row, so a
/// sealed value copied onto another channel does not open there.
pub fn seal_context(channel_id: &str) -> String {
    format!("channel:{channel_id}")
}
