use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use shared_models::{
    FieldError,
    entity::{TenantScoped, api_token},
    ids::{GrantId, TokenId, UserId},
    secret::Secret,
    time::Timestamp,
};

use super::Store;
use crate::{
    auth::{
        scope::Scopes,
        token::{self, TokenDigest},
    },
    error::{Error, Result},
};

/// Who a request acts for, once its bearer token has been checked, and
/// what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub credential: Credential,
    pub scopes: Scopes,
}

/// What the request presented: an API token, or an access token issued
/// under a user's OAuth connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    ApiToken(TokenId),
    Connection(GrantId),
}

impl Credential {
    /// The id alone, for the records that note who did something.
    pub fn id(self) -> uuid::Uuid {
        match self {
            Self::ApiToken(id) => *id.as_uuid(),
            Self::Connection(id) => *id.as_uuid(),
        }
    }
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiToken(id) => write!(f, "token:{id}"),
            Self::Connection(id) => write!(f, "connection:{id}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub scopes: String,
}

impl From<api_token::Model> for TokenRecord {
    fn from(row: api_token::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at.to_string(),
            expires_at: row.expires_at.map(|at| at.to_string()),
            revoked_at: row.revoked_at.map(|at| at.to_string()),
            last_used_at: row.last_used_at.map(|at| at.to_string()),
            scopes: row.scopes,
        }
    }
}

/// Why a presented token was refused. The text is safe to show the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is not valid")]
    Unknown,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
}

/// `last_used_at` is refreshed at most this often, so that authentication
/// stays a read on the hot path.
const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

/// How long a checked token is trusted without asking the database again.
/// A revocation made in another process (the CLI, another replica) takes
/// effect within this time; one made through this process at once.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
const TOKEN_CACHE_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct CachedToken {
    principal: Principal,
    expires_at: Option<Timestamp>,
    last_used_at: Timestamp,
    checked_at: Timestamp,
}

/// Recently checked tokens by digest, so that a busy client costs one
/// database read per TTL rather than one per request.
#[derive(Debug, Default, Clone)]
pub struct TokenCache(Arc<RwLock<HashMap<String, CachedToken>>>);

impl TokenCache {
    fn get(&self, digest: &TokenDigest) -> Option<CachedToken> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest.as_hex())
            .copied()
    }

    fn put(&self, digest: &TokenDigest, entry: CachedToken) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= TOKEN_CACHE_CAPACITY {
            map.retain(|_, e| entry.checked_at.since(e.checked_at) < TOKEN_CACHE_TTL);
            if map.len() >= TOKEN_CACHE_CAPACITY {
                map.clear();
            }
        }
        map.insert(digest.as_hex().to_owned(), entry);
    }

    fn forget(&self, token_id: TokenId) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| e.principal.credential != Credential::ApiToken(token_id));
    }
}

impl Store {
    pub async fn create_token(
        &self,
        user: UserId,
        name: &str,
        scopes: Scopes,
        expires_at: Option<DateTime<Utc>>,
        rng: &SystemRandom,
    ) -> Result<(TokenRecord, Secret<String>)> {
        if scopes.is_empty() {
            return Err(FieldError::new("scopes", "must name at least one scope").into());
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(FieldError::new("name", "must be 1 to 200 characters").into());
        }
        let new = token::generate(rng).map_err(|_| Error::Random)?;
        let row = api_token::ActiveModel {
            id: Set(TokenId::generate().to_string()),
            user_id: Set(user.to_string()),
            name: Set(name.to_owned()),
            token_hash: Set(new.digest.as_hex().to_owned()),
            prefix: Set(new.prefix),
            created_at: Set(self.clock.now()),
            expires_at: Set(expires_at.map(Timestamp::from)),
            revoked_at: Set(None),
            last_used_at: Set(None),
            scopes: Set(scopes.to_string()),
        }
        .insert(&self.db)
        .await?;
        Ok((row.into(), new.secret))
    }

    pub async fn list_tokens(&self, user: UserId) -> Result<Vec<TokenRecord>> {
        let rows = api_token::Entity::find_owned(user)
            .order_by_asc(api_token::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }

    /// Revokes a token by id. Revoking an already revoked token keeps the
    /// original revocation time.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenRecord> {
        let token_id = TokenId::parse_field(id, "id")?;
        self.token_cache.forget(token_id);
        let id = token_id.to_string();
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(self.clock.now()))
            .filter(api_token::Column::Id.eq(id.as_str()))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        api_token::Entity::find_by_id(id.clone())
            .one(&self.db)
            .await?
            .map(TokenRecord::from)
            .ok_or_else(|| Error::not_found("token", id))
    }

    /// Resolves a presented bearer token to its principal.
    pub async fn authenticate(&self, presented: &str) -> Result<Result<Principal, TokenRejection>> {
        if !token::looks_like_token(presented) {
            return Ok(Err(TokenRejection::Unknown));
        }
        let digest = TokenDigest::of(presented);
        let now = self.clock.now();
        let cached = self
            .token_cache
            .get(&digest)
            .filter(|entry| now.since(entry.checked_at) < TOKEN_CACHE_TTL);
        let mut entry = match cached {
            Some(entry) => entry,
            None => match self.load_token(&digest, now).await? {
                Ok(entry) => entry,
                Err(rejection) => return Ok(Err(rejection)),
            },
        };
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Ok(Err(TokenRejection::Expired));
        }
        if now.since(entry.last_used_at) >= LAST_USED_GRANULARITY {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(entry.principal.credential.id().to_string()))
                .exec(&self.db)
                .await?;
            entry.last_used_at = now;
        }
        self.token_cache.put(&digest, entry);
        Ok(Ok(entry.principal))
    }

    async fn load_token(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> Result<Result<CachedToken, TokenRejection>> {
        let Some(row) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(digest.as_hex()))
            .one(&self.db)
            .await?
        else {
            return Ok(Err(TokenRejection::Unknown));
        };
        if !digest.matches(&row.token_hash) {
            return Ok(Err(TokenRejection::Unknown));
        }
        if row.revoked_at.is_some() {
            return Ok(Err(TokenRejection::Revoked));
        }
        Ok(Ok(CachedToken {
            principal: Principal {
                user_id: UserId::parse_field(&row.user_id, "api_tokens.user_id")?,
                credential: Credential::ApiToken(TokenId::parse_field(&row.id, "api_tokens.id")?),
                scopes: Scopes::parse(&row.scopes, "api_tokens.scopes")?,
            },
            expires_at: row.expires_at,
            // Never used counts as long ago, so the first use is recorded.
            last_used_at: row.last_used_at.unwrap_or(Timestamp::MIN),
            checked_at: now,
        }))
    }
}
