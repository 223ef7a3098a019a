//! Access-token signing keys as stored: made on first start, rotated by the
//! operator, published until the tokens they signed have expired.

use ring::rand::SystemRandom;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use std::time::Duration;

use shared_models::{entity::oauth_signing_key, time::Timestamp};

use super::Store;
use crate::{error::Result, oauth::signing};

impl Store {
    /// The keys to sign and check with at `now`: every unretired key, and
    /// retired ones for `overlap` after their retirement.
    pub async fn signing_keys(
        &self,
        now: Timestamp,
        overlap: Duration,
    ) -> Result<Vec<oauth_signing_key::Model>> {
        Ok(oauth_signing_key::Entity::find()
            .filter(
                Condition::any()
                    .add(oauth_signing_key::Column::RetiredAt.is_null())
                    .add(oauth_signing_key::Column::RetiredAt.gt(now - overlap)),
            )
            .all(&self.db)
            .await?)
    }

    /// Makes a signing key unless one is current. Two replicas starting at
    /// once may both make one; both are then published, and the newer signs.
    pub async fn ensure_signing_key(&self, rng: &SystemRandom) -> Result<bool> {
        let current = oauth_signing_key::Entity::find()
            .filter(oauth_signing_key::Column::RetiredAt.is_null())
            .one(&self.db)
            .await?;
        if current.is_some() {
            return Ok(false);
        }
        self.insert_signing_key(rng).await?;
        Ok(true)
    }

    /// A new key signs from now on; the ones before it are retired (and
    /// still published for the overlap).
    pub async fn rotate_signing_key(&self, rng: &SystemRandom) -> Result<String> {
        let now = self.clock.now();
        oauth_signing_key::Entity::update_many()
            .col_expr(oauth_signing_key::Column::RetiredAt, Expr::value(now))
            .filter(oauth_signing_key::Column::RetiredAt.is_null())
            .exec(&self.db)
            .await?;
        self.insert_signing_key(rng).await
    }

    /// Re-seals signing keys sealed under an older encryption key, as
    /// `keys rotate` does for channels; returns how many.
    pub async fn reseal_stale_signing_keys(&self) -> Result<u64> {
        let current = self.keyring.current_key_id().to_owned();
        let mut resealed = 0;
        for row in oauth_signing_key::Entity::find()
            .filter(oauth_signing_key::Column::KeyId.ne(current.as_str()))
            .all(&self.db)
            .await?
        {
            let sealed = signing::reseal(&self.keyring, &row)?;
            let result = oauth_signing_key::Entity::update_many()
                .col_expr(oauth_signing_key::Column::Sealed, Expr::value(sealed))
                .col_expr(
                    oauth_signing_key::Column::KeyId,
                    Expr::value(current.as_str()),
                )
                .filter(oauth_signing_key::Column::Kid.eq(row.kid.as_str()))
                .filter(oauth_signing_key::Column::KeyId.eq(row.key_id.as_str()))
                .exec(&self.db)
                .await?;
            resealed += result.rows_affected;
        }
        Ok(resealed)
    }

    async fn insert_signing_key(&self, rng: &SystemRandom) -> Result<String> {
        let new = signing::generate(&self.keyring, rng)?;
        oauth_signing_key::ActiveModel {
            kid: Set(new.kid.clone()),
            sealed: Set(new.sealed),
            key_id: Set(new.key_id),
            public_jwk: Set(new.public_jwk.to_string()),
            created_at: Set(self.clock.now()),
            retired_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(new.kid)
    }
}
