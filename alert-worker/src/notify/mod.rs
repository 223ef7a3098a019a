//! Notifications: the outbox rows the engine writes when an alert changes,
//! the dispatcher that delivers them, and the senders that speak each
//! platform's protocol through the egress guard.

pub mod dispatch;
pub mod render;
pub mod send;

use std::time::Duration;

use shared_models::{channel::ChannelConfig, notification::NotificationEvent, time::Timestamp};

/// One attempt to deliver one notification to one channel.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The notification's id: the idempotency key a receiver sees
    /// (`webhook-id`), the same on every retry of this notification.
    pub id: &'a str,
    pub event: &'a NotificationEvent,
    pub channel: &'a ChannelConfig,
    /// The channel's name, for messages that mention it.
    pub channel_name: &'a str,
    /// When this attempt is made (from the injected clock).
    pub now: Timestamp,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The receiver accepted it (2xx, or SMTP 250).
    Delivered {
        status: Option<u16>,
        /// The start of the receiver's answer, for `test_notification_channel`.
        detail: String,
    },
    /// Worth trying again: 408, 425, 429, 5xx, timeouts, refused connections,
    /// SMTP 4xx. `retry_after` is the receiver's `Retry-After`, when given.
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        error: String,
    },
    /// Trying again cannot help: other 4xx, redirects (never followed),
    /// egress refusals, configuration the receiver rejects.
    Permanent { status: Option<u16>, error: String },
}
