use sea_orm::entity::prelude::*;

use crate::time::Timestamp;

/// One user's consent to one client: a connection, and the family of every
/// token issued under it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
