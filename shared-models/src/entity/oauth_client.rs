use sea_orm::entity::prelude::*;

use crate::time::Timestamp;

/// A client registered dynamically (RFC 7591) or by the operator.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// JSON array of the registered redirect URIs.
    pub redirect_uris: String,
    /// `dynamic` or `operator`.
    pub origin: String,
    /// SHA-256 of a confidential client's secret.
    pub secret_hash: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
