use sea_orm::entity::prelude::*;

use crate::time::Timestamp;

/// An access-token signing key: the private half sealed, the public half
/// as the JWK the JWKS endpoint publishes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub sealed: String,
    /// The keyring key it is sealed under.
    pub key_id: String,
    pub public_jwk: String,
    pub created_at: Timestamp,
    /// When it stopped signing; published until tokens it signed expire.
    pub retired_at: Option<Timestamp>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
