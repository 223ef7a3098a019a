//! Notification channels: where a rule's alerts are sent. A channel's whole
//! configuration is sealed at rest (webhook URLs and keys are credentials);
//! clients only ever see its [`ChannelConfig::redacted`] form.

mod config;
mod redact;
pub mod signing;

pub use config::{
    ChannelConfig, ChannelKind, EmailConfig, Endpoint, SmtpSecurity, WEBHOOK_SECRET_PREFIX,
};
pub use redact::redact_url;

use crate::crypto::{CryptoError, Keyring};

/// What a channel's sealed configuration is bound to: its own row, so a
/// sealed value copied onto another channel does not open there.
pub fn seal_context(channel_id: &str) -> String {
    format!("channel:{channel_id}")
}

impl ChannelConfig {
    /// The configuration sealed under the keyring's current key, for the
    /// row of `channel_id`.
    pub fn seal(&self, keyring: &Keyring, channel_id: &str) -> Result<String, CryptoError> {
        let plain = serde_json::to_vec(self).map_err(|_| CryptoError::Unreadable)?;
        keyring.seal(&plain, &seal_context(channel_id))
    }

    pub fn open(keyring: &Keyring, channel_id: &str, sealed: &str) -> Result<Self, CryptoError> {
        let plain = keyring.open(sealed, &seal_context(channel_id))?;
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Unreadable)
    }
}
