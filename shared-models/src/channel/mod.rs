//! Notification channels: where a rule's alerts are sent. A channel's whole
//! configuration is sealed at rest (webhook URLs and keys are credentials);
//! clients only ever see its [`ChannelConfig::redacted`] form.

mod config;
mod redact;

pub use config::{
    ChannelConfig, ChannelKind, EmailConfig, Endpoint, SmtpSecurity, WEBHOOK_SECRET_PREFIX,
};
pub use redact::redact_url;
