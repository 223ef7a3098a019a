use sea_orm::entity::prelude::*;

use crate::{ids::RuleId, time::Timestamp};

/// Rule-level health: last evaluation time and error.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rule_status")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub rule_id: RuleId,
    pub owner_id: String,
    pub last_evaluated_at: Timestamp,
    /// The most pressing state among the rule's series: firing, pending,
    /// error, no_data or normal.
    pub state: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub series_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::alert_rule::Entity",
        from = "Column::RuleId",
        to = "super::alert_rule::Column::Id"
    )]
    Rule,
}

impl Related<super::alert_rule::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Rule.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
