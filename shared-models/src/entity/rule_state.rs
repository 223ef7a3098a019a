use sea_orm::entity::prelude::*;

use crate::{ids::RuleId, time::Timestamp};

/// Evaluation state of one series of one rule, persisted on every
/// evaluation so that a restart or another worker continues where it was.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rule_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub rule_id: RuleId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub series_key: String,
    pub owner_id: String,
    pub state: String,
    #[sea_orm(column_type = "Text")]
    pub labels: String,
    pub pending_since: Option<Timestamp>,
    pub firing_since: Option<Timestamp>,
    /// When the condition stopped holding while firing (for keep_firing_for).
    pub clear_since: Option<Timestamp>,
    pub last_value: Option<f64>,
    pub last_seen_at: Option<Timestamp>,
    pub alert_id: Option<String>,
    /// When this series last sent a notification (cooldown, repeat_interval).
    pub last_notified_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
