//! What a notification says, independent of the platform that carries it.
//! The engine snapshots one [`NotificationEvent`] into each outbox row, so a
//! retry days later sends what was true when the alert changed.

use std::{collections::BTreeMap, fmt};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rule::Severity;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    Firing,
    /// Still firing after `repeat_interval`.
    Repeat,
    Resolved,
    /// From `test_notification_channel`.
    Test,
}

impl NotifyEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Repeat => "repeat",
            Self::Resolved => "resolved",
            Self::Test => "test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Firing, Self::Repeat, Self::Resolved, Self::Test]
            .into_iter()
            .find(|e| e.as_str() == raw)
    }

    pub fn is_resolution(self) -> bool {
        self == Self::Resolved
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationEvent {
    pub event: NotifyEvent,
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    /// The value that triggered (firing) or cleared (resolved) the alert.
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// The condition in words, e.g. `last(crypto.price{symbol="BTC"}) over 5m > 70000`.
    pub condition: String,
    /// The series' labels: the rule's tag filters and group labels.
    pub labels: BTreeMap<String, String>,
    /// Epoch milliseconds.
    pub started_at: i64,
    pub resolved_at: Option<i64>,
    /// The rule's rendered message template.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl NotificationEvent {
    /// How long the alert fired, once resolved.
    pub fn duration_ms(&self) -> Option<i64> {
        self.resolved_at.map(|end| end - self.started_at)
    }

    /// A one-line title every platform shows first.
    pub fn title(&self) -> String {
        match self.event {
            NotifyEvent::Firing => format!("[FIRING] {}", self.rule_name),
            NotifyEvent::Repeat => format!("[STILL FIRING] {}", self.rule_name),
            NotifyEvent::Resolved => format!("[RESOLVED] {}", self.rule_name),
            NotifyEvent::Test => format!("[TEST] {}", self.rule_name),
        }
    }
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Out of attempts or too old, or refused for good by the receiver.
    Failed,
    /// Recorded but not sent: a silence matched.
    Silenced,
    /// Recorded but not sent: within the rule's cooldown.
    Suppressed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Silenced => "silenced",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivered,
            Self::Failed,
            Self::Silenced,
            Self::Suppressed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}
