use sea_orm::entity::prelude::*;

use crate::time::Timestamp;

/// A place alerts are sent. `sealed` holds the whole configuration,
/// encrypted; `redacted` is the form clients may see.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub sealed: String,
    pub key_id: String,
    #[sea_orm(column_type = "Text")]
    pub redacted: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
