//! Where each alert's notifications stand, read from the outbox for a whole
//! page of alerts at once.

use std::collections::HashMap;

use schemars::JsonSchema;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use shared_models::{
    FieldError, ModelError,
    entity::{TenantScoped, notification},
    ids::UserId,
    notification::{DeliveryStatus, NotifyEvent},
    time::format_millis,
};

use super::Store;
use crate::error::{Error, Result};

/// One notification of one alert transition to one channel.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeliveryRecord {
    pub channel_id: String,
    /// What was announced: "firing", "repeat" (still firing) or "resolved".
    pub event: NotifyEvent,
    /// "pending" (waiting for its first or next attempt), "delivered",
    /// "failed" (out of attempts, too old, or refused for good), "silenced"
    /// or "suppressed" (recorded but deliberately not sent; see `reason`).
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The receiver's HTTP status on the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// Why it was not sent: the silence or the cooldown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// (alert_id, channel_id, event, status, attempts, response_status,
/// last_error, delivered_at, reason): the payload stays in the table.
type DeliveryRow = (
    String,
    String,
    String,
    String,
    i32,
    Option<i32>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

impl Store {
    /// The notifications of each of `alerts`, oldest first, in one query.
    pub(super) async fn deliveries_of(
        &self,
        owner: UserId,
        alerts: &[&str],
    ) -> Result<HashMap<String, Vec<DeliveryRecord>>> {
        let mut by_alert: HashMap<String, Vec<DeliveryRecord>> = HashMap::new();
        if alerts.is_empty() {
            return Ok(by_alert);
        }
        let rows: Vec<DeliveryRow> = notification::Entity::find_owned(owner)
            .select_only()
            .columns([
                notification::Column::AlertId,
                notification::Column::ChannelId,
                notification::Column::Event,
                notification::Column::Status,
                notification::Column::Attempts,
                notification::Column::ResponseStatus,
                notification::Column::LastError,
                notification::Column::DeliveredAt,
                notification::Column::Reason,
            ])
            .filter(notification::Column::AlertId.is_in(alerts.iter().copied()))
            .order_by_asc(notification::Column::CreatedAt)
            .order_by_asc(notification::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        for row in rows {
            let (
                alert_id,
                channel_id,
                event,
                status,
                attempts,
                response_status,
                last_error,
                delivered_at,
                reason,
            ) = row;
            let corrupt = |what: &str| {
                Error::Corrupt(ModelError::Invalid(FieldError::new(
                    what,
                    format!("unreadable value in a notification of alert {alert_id}"),
                )))
            };
            let record = DeliveryRecord {
                event: NotifyEvent::parse(&event).ok_or_else(|| corrupt("event"))?,
                status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
                channel_id,
                attempts,
                response_status,
                last_error,
                delivered_at: delivered_at.map(format_millis),
                reason,
            };
            by_alert.entry(alert_id).or_default().push(record);
        }
        Ok(by_alert)
    }
}
