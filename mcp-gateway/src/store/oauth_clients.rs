//! Clients registered here: dynamically (RFC 7591) or by the operator.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use shared_models::{entity::oauth_client, time::Timestamp};

use super::Store;
use crate::{
    auth::token::TokenDigest,
    error::{Error, Result},
};

#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `dynamic` or `operator`.
    pub origin: String,
    pub secret_hash: Option<String>,
    pub created_at: Timestamp,
}

impl TryFrom<oauth_client::Model> for ClientRecord {
    type Error = Error;

    fn try_from(row: oauth_client::Model) -> Result<Self> {
        let redirect_uris = serde_json::from_str(&row.redirect_uris).map_err(|_| {
            Error::Corrupt(
                shared_models::FieldError::new("oauth_clients.redirect_uris", "is not a JSON list")
                    .into(),
            )
        })?;
        Ok(Self {
            id: row.id,
            name: row.name,
            redirect_uris,
            origin: row.origin,
            secret_hash: row.secret_hash,
            created_at: row.created_at,
        })
    }
}

impl Store {
    pub async fn create_client(
        &self,
        name: &str,
        redirect_uris: &[String],
        origin: &str,
        secret: Option<&TokenDigest>,
    ) -> Result<ClientRecord> {
        let row = oauth_client::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            name: Set(name.to_owned()),
            redirect_uris: Set(serde_json::Value::from(redirect_uris.to_vec()).to_string()),
            origin: Set(origin.to_owned()),
            secret_hash: Set(secret.map(|d| d.as_hex().to_owned())),
            created_at: Set(self.clock.now()),
        }
        .insert(&self.db)
        .await?;
        row.try_into()
    }

    pub async fn find_client(&self, id: &str) -> Result<Option<ClientRecord>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        oauth_client::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .map(ClientRecord::try_from)
            .transpose()
    }
}
