use sea_orm::entity::prelude::*;

use crate::{
    ids::{RuleId, UserId},
    rule::{RuleSpec, Severity},
    shard::Shard,
    time::Timestamp,
};

/// A stored rule. `spec` holds the whole parsed rule as JSON; the columns
/// beside it are copies of the parts that queries filter or sort on.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: RuleId,
    pub owner_id: UserId,
    pub name: String,
    pub enabled: bool,
    pub severity: Severity,
    pub interval_ms: i64,
    pub shard: Shard,
    #[sea_orm(column_type = "Text")]
    pub spec: RuleSpec,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Evaluation health, once the engine has evaluated the rule.
    #[sea_orm(has_one = "super::rule_status::Entity")]
    Status,
}

impl Related<super::rule_status::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Status.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
