//! OAuth grants (a user's connection of a client) and what is issued under
//! them: single-use authorization codes and rotating refresh tokens, both
//! kept only as digests. Any replay revokes the whole grant. A user has at
//! most one live grant per client: consenting again extends it.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
    sea_query::Expr,
};
use shared_models::{
    entity::{TenantScoped, oauth_code, oauth_grant, oauth_refresh_token},
    ids::{GrantId, UserId},
    time::Timestamp,
};

use super::Store;
use crate::{
    auth::{scope::Scopes, token::TokenDigest},
    error::{Error, Result},
};

#[derive(Debug, Clone)]
pub struct GrantRecord {
    pub id: GrantId,
    pub user_id: UserId,
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub created_at: String,
    pub last_used_at: String,
    pub revoked: bool,
}

impl TryFrom<oauth_grant::Model> for GrantRecord {
    type Error = Error;

    fn try_from(row: oauth_grant::Model) -> Result<Self> {
        Ok(Self {
            id: GrantId::parse_field(&row.id, "oauth_grants.id")?,
            user_id: UserId::parse_field(&row.user_id, "oauth_grants.user_id")?,
            client_id: row.client_id,
            client_name: row.client_name,
            scope: row.scope,
            created_at: row.created_at.to_string(),
            last_used_at: row.last_used_at.to_string(),
            revoked: row.revoked_at.is_some(),
        })
    }
}

/// A code as the token endpoint redeems it.
#[derive(Debug, Clone)]
pub struct RedeemedCode {
    pub grant: GrantRecord,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
}

/// Why a code or refresh token was refused. Each is `invalid_grant` to
/// the client; the difference is for the log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantRejection {
    #[error("unknown")]
    Unknown,
    #[error("expired")]
    Expired,
    /// Spent already: someone holds a copy. The grant named is revoked in
    /// the database; the caller tells the replicas.
    #[error("already used: the connection is revoked")]
    Replayed(GrantId),
    #[error("the connection was revoked")]
    Revoked,
}

/// What a new code needs stored.
pub struct NewCode<'a> {
    pub digest: &'a TokenDigest,
    /// The connection's id, if the code starts a new one.
    pub grant: GrantId,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub scope: &'a str,
    pub expires_at: Timestamp,
}

impl Store {
    /// The code that completes a consent, under the user's live connection
    /// of `client_id` if there is one, else under a new connection with
    /// id `code.grant`; in one transaction. Returns the connection's id.
    ///
    /// Consenting again extends a connection: its scopes become the union
    /// of what was allowed before and now (another installation of the
    /// same app, sharing its client id, keeps what it had), it takes the
    /// client's current name, and the refresh tokens already issued under
    /// it stay valid. The code itself carries only the scopes asked now.
    pub async fn consent_with_code(
        &self,
        user: UserId,
        client_id: &str,
        client_name: &str,
        code: NewCode<'_>,
    ) -> Result<GrantId> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let existing = oauth_grant::Entity::find_owned(user)
            .filter(oauth_grant::Column::ClientId.eq(client_id))
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .order_by_asc(oauth_grant::Column::CreatedAt)
            .one(&txn)
            .await?;
        let grant = match existing {
            Some(row) => {
                let id = GrantId::parse_field(&row.id, "oauth_grants.id")?;
                let scope = union_of_scopes(&row.scope, code.scope)?;
                let mut row: oauth_grant::ActiveModel = row.into();
                row.scope = Set(scope);
                row.client_name = Set(client_name.to_owned());
                row.update(&txn).await?;
                id
            }
            None => {
                oauth_grant::ActiveModel {
                    id: Set(code.grant.to_string()),
                    user_id: Set(user.to_string()),
                    client_id: Set(client_id.to_owned()),
                    client_name: Set(client_name.to_owned()),
                    scope: Set(code.scope.to_owned()),
                    created_at: Set(now),
                    last_used_at: Set(now),
                    revoked_at: Set(None),
                }
                .insert(&txn)
                .await?;
                code.grant
            }
        };
        oauth_code::ActiveModel {
            digest: Set(code.digest.as_hex().to_owned()),
            grant_id: Set(grant.to_string()),
            redirect_uri: Set(code.redirect_uri.to_owned()),
            code_challenge: Set(code.code_challenge.to_owned()),
            scope: Set(code.scope.to_owned()),
            expires_at: Set(code.expires_at),
            used_at: Set(None),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(grant)
    }

    /// Marks a code used, once. A second redemption revokes the grant it
    /// belongs to, and so every token issued from it (RFC 6749 §4.1.2).
    pub async fn redeem_code(
        &self,
        digest: &TokenDigest,
    ) -> Result<Result<RedeemedCode, GrantRejection>> {
        let now = self.clock.now();
        let Some(code) = oauth_code::Entity::find_by_id(digest.as_hex().to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(Err(GrantRejection::Unknown));
        };
        let taken = oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
            .filter(oauth_code::Column::Digest.eq(digest.as_hex()))
            .filter(oauth_code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        let spent = taken.rows_affected == 1;
        let grant = match self
            .after_spending(spent, &code.grant_id, code.expires_at, now)
            .await?
        {
            Ok(grant) => grant,
            Err(rejection) => return Ok(Err(rejection)),
        };
        Ok(Ok(RedeemedCode {
            grant,
            redirect_uri: code.redirect_uri,
            code_challenge: code.code_challenge,
            scope: code.scope,
        }))
    }

    pub async fn store_refresh_token(
        &self,
        digest: &TokenDigest,
        grant: GrantId,
        expires_at: Timestamp,
    ) -> Result<()> {
        oauth_refresh_token::ActiveModel {
            digest: Set(digest.as_hex().to_owned()),
            grant_id: Set(grant.to_string()),
            created_at: Set(self.clock.now()),
            expires_at: Set(expires_at),
            used_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Uses a refresh token up. Presenting one already used means it was
    /// copied: the whole grant is revoked (refresh token rotation with
    /// reuse detection, OAuth 2.1 §4.3.1).
    pub async fn use_refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Result<GrantRecord, GrantRejection>> {
        let now = self.clock.now();
        let Some(token) = oauth_refresh_token::Entity::find_by_id(digest.as_hex().to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(Err(GrantRejection::Unknown));
        };
        let taken = oauth_refresh_token::Entity::update_many()
            .col_expr(oauth_refresh_token::Column::UsedAt, Expr::value(now))
            .filter(oauth_refresh_token::Column::Digest.eq(digest.as_hex()))
            .filter(oauth_refresh_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        let spent = taken.rows_affected == 1;
        let grant = match self
            .after_spending(spent, &token.grant_id, token.expires_at, now)
            .await?
        {
            Ok(grant) => grant,
            Err(rejection) => return Ok(Err(rejection)),
        };
        oauth_grant::Entity::update_many()
            .col_expr(oauth_grant::Column::LastUsedAt, Expr::value(now))
            .filter(oauth_grant::Column::Id.eq(token.grant_id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(Ok(grant))
    }

    /// The grant a refresh token belongs to and that grant's client,
    /// without using the token (for revocation by the client, RFC 7009).
    pub async fn grant_of_refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(String, String)>> {
        let Some(token) = oauth_refresh_token::Entity::find_by_id(digest.as_hex().to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(oauth_grant::Entity::find_by_id(token.grant_id.clone())
            .one(&self.db)
            .await?
            .map(|grant| (token.grant_id, grant.client_id)))
    }

    /// What a single-use secret (a code, a refresh token) gives once the
    /// conditional update that spends it has run: nothing if it was spent
    /// already — a replay, so its whole grant is revoked — or has expired,
    /// or its grant was revoked; else the grant.
    async fn after_spending(
        &self,
        spent: bool,
        grant_id: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Result<GrantRecord, GrantRejection>> {
        if !spent {
            self.revoke_grant_family(grant_id).await?;
            let grant = GrantId::parse_field(grant_id, "oauth_grants.id")?;
            return Ok(Err(GrantRejection::Replayed(grant)));
        }
        if expires_at <= now {
            return Ok(Err(GrantRejection::Expired));
        }
        Ok(self
            .live_grant(grant_id)
            .await?
            .ok_or(GrantRejection::Revoked))
    }

    async fn live_grant(&self, id: &str) -> Result<Option<GrantRecord>> {
        oauth_grant::Entity::find_by_id(id.to_owned())
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
            .map(GrantRecord::try_from)
            .transpose()
    }

    /// Revokes a grant and with it every token issued under it. Idempotent.
    pub async fn revoke_grant_family(&self, id: &str) -> Result<()> {
        let now = self.clock.now();
        oauth_grant::Entity::update_many()
            .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
            .filter(oauth_grant::Column::Id.eq(id))
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        // Spent: nothing under the grant can be exchanged any more.
        oauth_refresh_token::Entity::update_many()
            .col_expr(oauth_refresh_token::Column::UsedAt, Expr::value(now))
            .filter(oauth_refresh_token::Column::GrantId.eq(id))
            .filter(oauth_refresh_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The user's live connections, newest first.
    pub async fn list_grants(&self, user: UserId) -> Result<Vec<GrantRecord>> {
        oauth_grant::Entity::find_owned(user)
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .order_by_desc(oauth_grant::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(GrantRecord::try_from)
            .collect()
    }

    /// Revokes one of the user's connections; another user's is not found.
    pub async fn revoke_grant(&self, user: UserId, id: GrantId) -> Result<GrantRecord> {
        let Some(row) = oauth_grant::Entity::find_owned_by_id(user, &id.to_string())
            .filter(oauth_grant::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Err(Error::not_found("connection", id.to_string()));
        };
        self.revoke_grant_family(&row.id).await?;
        let mut record = GrantRecord::try_from(row)?;
        record.revoked = true;
        Ok(record)
    }

    /// Grants revoked after `since`: what every replica refuses access
    /// tokens for.
    pub async fn grants_revoked_since(&self, since: Timestamp) -> Result<Vec<(String, Timestamp)>> {
        Ok(oauth_grant::Entity::find()
            .filter(oauth_grant::Column::RevokedAt.gt(since))
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|row| Some((row.id, row.revoked_at?)))
            .collect())
    }
}

/// Two space-separated scope lists as one, each scope once.
fn union_of_scopes(before: &str, now: &str) -> Result<String> {
    let both = Scopes::parse(&format!("{before} {now}"), "oauth_grants.scope")
        .map_err(|e| Error::Corrupt(e.into()))?;
    Ok(both.to_string())
}
