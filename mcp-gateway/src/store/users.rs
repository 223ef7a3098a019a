use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use shared_models::{FieldError, entity::user, ids::UserId};

use super::Store;
use crate::error::{Error, Result};

/// An email address, trimmed and lower-cased so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(FieldError::new(
                "email",
                "must be an address like name@example.com",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
}

impl TryFrom<user::Model> for UserRecord {
    type Error = Error;

    fn try_from(row: user::Model) -> Result<Self> {
        Ok(Self {
            id: UserId::parse_field(&row.id, "users.id")?,
            email: row.email,
        })
    }
}

impl Store {
    pub async fn create_user(&self, email: &Email) -> Result<UserRecord> {
        if self.find_user(email).await?.is_some() {
            return Err(Error::Conflict(format!(
                "user {} already exists",
                email.as_str()
            )));
        }
        let row = user::ActiveModel {
            id: Set(UserId::generate().to_string()),
            email: Set(email.as_str().to_owned()),
            created_at: Set(self.clock.now()),
            password_hash: Set(None),
        }
        .insert(&self.db)
        .await?;
        row.try_into()
    }

    pub async fn find_user(&self, email: &Email) -> Result<Option<UserRecord>> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .map(UserRecord::try_from)
            .transpose()
    }

    pub async fn require_user(&self, email: &Email) -> Result<UserRecord> {
        self.find_user(email)
            .await?
            .ok_or_else(|| Error::not_found("user", email.as_str()))
    }

    /// The user with `email` and their password hash, for signing in.
    pub async fn find_sign_in(
        &self,
        email: &Email,
    ) -> Result<Option<(UserRecord, Option<String>)>> {
        let Some(row) = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let hash = row.password_hash.clone();
        Ok(Some((row.try_into()?, hash)))
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<UserRecord> {
        user::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(UserRecord::try_from)
            .transpose()?
            .ok_or_else(|| Error::not_found("user", id.to_string()))
    }

    /// Stores a password hash (made by `oauth::password`).
    pub async fn set_password_hash(&self, id: UserId, hash: String) -> Result<()> {
        let updated = user::Entity::update_many()
            .col_expr(
                user::Column::PasswordHash,
                sea_orm::sea_query::Expr::value(hash),
            )
            .filter(user::Column::Id.eq(id.to_string()))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::not_found("user", id.to_string()));
        }
        Ok(())
    }

    pub async fn count_users(&self) -> Result<u64> {
        Ok(user::Entity::find().count(&self.db).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Admin@LocalHost ").unwrap().as_str(),
            "admin@localhost"
        );
        for bad in ["", "no-at", "@x", "x@", "a b@c", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
