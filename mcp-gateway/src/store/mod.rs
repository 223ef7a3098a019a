//! Persistence. Every method that touches tenant data takes the owner and
//! goes through `TenantScoped`, so another user's rows behave as absent.

mod alerts;
mod channels;
mod cursor;
mod deliveries;
mod health;
mod oauth_clients;
mod oauth_grants;
mod oauth_keys;
mod points;
mod rule_summaries;
mod rules;
mod silences;
mod tokens;
mod users;
mod web_sessions;

use std::sync::Arc;

use alert_worker::changes::ChangePublisher;

use sea_orm::DatabaseConnection;
use shared_models::{crypto::Keyring, rule::RuleLimits, time::Clock};

pub use alerts::{AlertFilter, AlertRecord};
pub use channels::{ChannelRecord, CreatedChannel, OpenedChannel};
pub use cursor::Page;
pub use deliveries::DeliveryRecord;
pub use health::{RuleHealth, SeriesHealth};
pub use oauth_clients::ClientRecord;
pub use oauth_grants::{GrantRecord, GrantRejection, NewCode, RedeemedCode};
pub use points::NewPoint;
pub use rule_summaries::{RuleListItem, RuleSummary};
pub use rules::{RuleFilter, RuleRecord};
pub use silences::{SilenceFilter, SilenceInput, SilenceRecord};
pub use tokens::{Credential, Principal, TOKEN_CACHE_TTL_MS, TokenRecord, TokenRejection};
pub use users::{Email, UserRecord};
pub use web_sessions::WebSession;

#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    limits: RuleLimits,
    shard_count: u32,
    /// Seals and opens channel configurations.
    keyring: Arc<Keyring>,
    token_cache: tokens::TokenCache,
    summaries: rule_summaries::SummaryCache,
    changes: Option<ChangePublisher>,
}

impl Store {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        limits: RuleLimits,
        shard_count: u32,
        keyring: Arc<Keyring>,
    ) -> Self {
        Self {
            db,
            clock,
            limits,
            shard_count,
            keyring,
            token_cache: tokens::TokenCache::default(),
            summaries: rule_summaries::SummaryCache::default(),
            changes: None,
        }
    }

    /// Announces rule writes to the workers through Redis.
    pub fn with_changes(mut self, changes: ChangePublisher) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Tells the worker fleet that a rule changed, after the commit.
    async fn announce_rule(&self, rule: &str, shard: i32) {
        if let Some(changes) = &self.changes {
            changes.rule_changed(rule, shard).await;
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn limits(&self) -> &RuleLimits {
        &self.limits
    }

    /// The keyring loaded at start, for whatever else in the process opens
    /// channel configurations (the dispatcher), so the key is read once.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.clone()
    }
}

/// Page sizes: what a client gets without asking, and the most it may ask for.
pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 200;
