//! What every replica knows to check and issue OAuth tokens: the signing
//! keys, the connections revoked lately, and the lifetimes. An access token
//! is checked from memory; revocations reach every replica within
//! `REFRESH_EVERY` (and the replica that revoked at once).

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use ring::rand::SystemRandom;
use shared_models::{
    changes::{ChangePublisher, REVOCATIONS, subscribe},
    ids::{GrantId, UserId},
    shutdown::every,
    time::{Timestamp, duration_millis},
};
use tokio_util::sync::CancellationToken;

use super::{
    access_token::{self, AccessClaims},
    signing::KeySet,
    throttle::{Throttle, ThrottleSettings},
};
use crate::{
    auth::{
        scope::Scopes,
        token::{self, TokenDigest},
    },
    config::Config,
    error::{Error, Result, chain},
    store::{Credential, GrantRecord, Principal, Store, TokenRejection},
};

/// How often keys and revocations are re-read.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
const REFRESH_TOKEN_PREFIX: &str = "mcpr_";
/// Dynamic client registrations one address may make in an hour.
pub const REGISTRATIONS_PER_HOUR: u32 = 20;
/// How far before the last read revocations are read again.
const REVOCATION_LOOKBACK: Duration = Duration::from_secs(5 * 60);
/// A key is re-read at most this often: rotations are rare.
const KEYS_EVERY: Duration = Duration::from_secs(60);

pub struct Authority {
    pub issuer: String,
    /// The MCP endpoint's URL: the audience of every access token.
    pub resource: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
    store: Store,
    rng: SystemRandom,
    keys: RwLock<Arc<KeySet>>,
    keys_loaded_at: RwLock<Timestamp>,
    /// Revoked grant → when. Entries older than an access token's lifetime
    /// are dropped: tokens issued under them have expired anyway.
    revoked: RwLock<HashMap<String, Timestamp>>,
    revocations_read_at: RwLock<Timestamp>,
    /// Sign-in failures, per account and per address (this replica's).
    pub throttle: Throttle,
    /// Dynamic registrations per address (this replica's): each counts as
    /// a "failure" of that address, so the throttle's window bounds them.
    pub registrations: Throttle,
    /// Announces revocations to the other replicas, when Redis is set up.
    announcer: Option<ChangePublisher>,
}

/// A token endpoint answer (RFC 6749 §5.1).
#[derive(Debug, serde::Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

impl Authority {
    /// Makes the first signing key if there is none, and loads the keys and
    /// recent revocations.
    pub async fn start(store: Store, config: &Config) -> Result<Arc<Self>> {
        let rng = SystemRandom::new();
        if store.ensure_signing_key(&rng).await? {
            tracing::info!("made the first access-token signing key");
        }
        let access_ttl = config.access_token_ttl;
        let now = store.now();
        let keys = KeySet::from_rows(
            &store.signing_keys(now, access_ttl).await?,
            &store.keyring(),
        )?;
        let clock = store.clock();
        let authority = Self {
            issuer: config.public_url.to_string(),
            resource: config.mcp_url(),
            access_ttl,
            refresh_ttl: config.refresh_token_ttl,
            store,
            rng,
            keys: RwLock::new(Arc::new(keys)),
            keys_loaded_at: RwLock::new(now),
            revoked: RwLock::default(),
            revocations_read_at: RwLock::new(now - access_ttl),
            throttle: Throttle::new(ThrottleSettings::default(), clock.clone()),
            registrations: Throttle::new(
                ThrottleSettings {
                    max_failures_per_account: u32::MAX,
                    max_failures_per_address: REGISTRATIONS_PER_HOUR,
                    window: Duration::from_secs(3600),
                },
                clock,
            ),
            announcer: match &config.changes.redis_url {
                Some(url) => Some(ChangePublisher::new(url.expose())?),
                None => None,
            },
        };
        authority.refresh().await?;
        Ok(Arc::new(authority))
    }

    pub fn keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Checks an access token this server issued for its MCP resource.
    pub fn authenticate(&self, token: &str) -> Result<Principal, TokenRejection> {
        let now_secs = self.store.now().as_millis() / 1000;
        let claims =
            access_token::verify(&self.keys(), token, &self.issuer, &self.resource, now_secs)?;
        if self
            .revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&claims.sid)
        {
            return Err(TokenRejection::Revoked);
        }
        let user_id = claims
            .sub
            .parse::<UserId>()
            .map_err(|_| TokenRejection::Unknown)?;
        let grant = claims
            .sid
            .parse::<GrantId>()
            .map_err(|_| TokenRejection::Unknown)?;
        let scopes = Scopes::parse(&claims.scope, "scope").map_err(|_| TokenRejection::Unknown)?;
        Ok(Principal {
            user_id,
            credential: Credential::Connection(grant),
            scopes,
        })
    }

    /// An access token and a new refresh token under `grant`.
    pub async fn issue(&self, grant: &GrantRecord, scope: Scopes) -> Result<Tokens> {
        let now = self.store.now();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.resource.clone(),
            sub: grant.user_id.to_string(),
            scope: scope.to_string(),
            client_id: grant.client_id.clone(),
            sid: grant.id.to_string(),
            jti: uuid::Uuid::now_v7().to_string(),
            iat: now.as_millis() / 1000,
            exp: (now + self.access_ttl).as_millis() / 1000,
        };
        let access_token = access_token::sign(&self.keys(), &claims)?;
        let refresh = self.random_token(REFRESH_TOKEN_PREFIX)?;
        self.store
            .store_refresh_token(&TokenDigest::of(&refresh), grant.id, now + self.refresh_ttl)
            .await?;
        Ok(Tokens {
            access_token,
            token_type: "Bearer",
            expires_in: duration_millis(self.access_ttl) / 1000,
            refresh_token: refresh,
            scope: scope.to_string(),
        })
    }

    /// A random opaque secret (a code, a refresh token, a session).
    pub fn random_token(&self, prefix: &str) -> Result<String> {
        token::random_secret(&self.rng, prefix).map_err(|_| Error::Random)
    }

    /// Revokes a grant everywhere: in the database, then in every replica's
    /// memory (see [`Self::revoked`]).
    pub async fn revoke(&self, grant_id: &str) -> Result<()> {
        self.store.revoke_grant_family(grant_id).await?;
        self.revoked(grant_id).await;
        Ok(())
    }

    /// After a grant's revocation was committed: this replica refuses its
    /// tokens at once, the others as soon as they hear it through Redis
    /// (when configured) or at their next read of the database (within
    /// [`REFRESH_EVERY`]).
    pub async fn revoked(&self, grant_id: &str) {
        self.note_revoked(grant_id);
        if let Some(announcer) = &self.announcer
            && let Err(error) = announcer.publish(REVOCATIONS, grant_id.to_owned()).await
        {
            tracing::warn!(%error, "announcing a revocation failed; other replicas read it within seconds");
        }
    }

    /// Listens for revocations announced by other replicas, until
    /// `shutdown`; without Redis there is nothing to listen to.
    pub async fn listen(self: Arc<Self>, redis_url: Option<String>, shutdown: CancellationToken) {
        let Some(url) = redis_url else { return };
        let authority = self.clone();
        subscribe(
            url,
            REVOCATIONS,
            move |heard| {
                if let Some(grant) = heard {
                    authority.note_revoked(&grant);
                }
            },
            shutdown,
        )
        .await;
    }

    fn note_revoked(&self, grant_id: &str) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(grant_id.to_owned(), self.store.now());
    }

    /// Re-reads revocations since the last read (with a margin for commits
    /// that landed late), and the keys now and then.
    pub async fn refresh(&self) -> Result<()> {
        let now = self.store.now();
        let since = *self
            .revocations_read_at
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Revocation times are other replicas' clocks: look back far enough
        // to cover commits that landed late and clocks that disagree.
        let revoked = self
            .store
            .grants_revoked_since(since - REVOCATION_LOOKBACK)
            .await?;
        {
            let mut known = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
            known.extend(revoked);
            known.retain(|_, at| *at > now - self.access_ttl - Duration::from_secs(60));
        }
        *self
            .revocations_read_at
            .write()
            .unwrap_or_else(PoisonError::into_inner) = now;
        let loaded_at = *self
            .keys_loaded_at
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if now.since(loaded_at) >= KEYS_EVERY {
            let keys = KeySet::from_rows(
                &self.store.signing_keys(now, self.access_ttl).await?,
                &self.store.keyring(),
            )?;
            *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            *self
                .keys_loaded_at
                .write()
                .unwrap_or_else(PoisonError::into_inner) = now;
        }
        Ok(())
    }

    /// Refreshes every [`REFRESH_EVERY`] until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        every(REFRESH_EVERY, shutdown, || async {
            if let Err(error) = self.refresh().await {
                tracing::warn!(error = %chain(&error), "reading OAuth revocations and keys failed");
            }
        })
        .await;
    }
}
