use sea_orm::entity::prelude::*;

use crate::{shard::Shard, time::Timestamp};

/// One outbox row: a notification of one alert transition to one channel.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    pub alert_id: String,
    pub rule_id: String,
    pub channel_id: String,
    pub shard: Shard,
    pub event: String,
    /// Unique per (alert, transition, channel): a second write of the same
    /// transition cannot queue a second send.
    pub idempotency_key: String,
    pub status: String,
    /// Why a row was not sent (the silence, the cooldown).
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    /// A dispatcher holds the row until then; after, another may take it.
    pub claimed_until: Option<Timestamp>,
    pub claim_token: Option<String>,
    pub response_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// The [`crate::notification::NotificationEvent`] as JSON.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
