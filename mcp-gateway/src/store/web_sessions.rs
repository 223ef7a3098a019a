//! Browser sessions for the sign-in, consent and account pages: the cookie
//! holds a random token, the table its digest, the user and the session's
//! CSRF token.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use shared_models::{entity::web_session, ids::UserId, time::Timestamp};

use super::Store;
use crate::{auth::token::TokenDigest, error::Result};

#[derive(Debug, Clone)]
pub struct WebSession {
    pub user_id: UserId,
    pub csrf: String,
}

impl Store {
    pub async fn create_web_session(
        &self,
        digest: &TokenDigest,
        user: UserId,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        web_session::ActiveModel {
            digest: Set(digest.as_hex().to_owned()),
            user_id: Set(user.to_string()),
            csrf: Set(csrf.to_owned()),
            created_at: Set(self.clock.now()),
            expires_at: Set(expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    pub async fn web_session(&self, digest: &TokenDigest) -> Result<Option<WebSession>> {
        let now = self.clock.now();
        let Some(row) = web_session::Entity::find_by_id(digest.as_hex().to_owned())
            .filter(web_session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(WebSession {
            user_id: UserId::parse_field(&row.user_id, "web_sessions.user_id")?,
            csrf: row.csrf,
        }))
    }
}
