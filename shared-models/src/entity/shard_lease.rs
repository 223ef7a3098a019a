use sea_orm::entity::prelude::*;

use crate::{shard::Shard, time::Timestamp};

/// Which worker evaluates a shard's rules, under which epoch, until when.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "shard_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub shard: Shard,
    pub worker_id: Option<String>,
    pub epoch: i64,
    pub expires_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
