use sea_orm::entity::prelude::*;

use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "silences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    pub rule_id: Option<String>,
    /// JSON object of label equality matchers.
    #[sea_orm(column_type = "Text")]
    pub matchers: String,
    #[sea_orm(column_type = "Text")]
    pub comment: String,
    pub created_by: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
