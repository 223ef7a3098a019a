//! Persistence. Every method that touches tenant data takes the owner and
//! goes through `TenantScoped`, so another user's rows behave as absent.

mod alerts;
mod channels;
mod cursor;
mod deliveries;
mod evaluators;
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

use shared_models::changes::ChangePublisher;

use sea_orm::DatabaseConnection;
use shared_models::{
    crypto::Keyring,
    rule::RuleLimits,
    shard::Shard,
    time::{Clock, Timestamp},
};

pub use alerts::{AlertFilter, AlertRecord};
pub use channels::{ChannelRecord, CreatedChannel, OpenedChannel};
pub use cursor::Page;
pub use deliveries::DeliveryRecord;
pub use evaluators::NotEvaluated;
pub use health::{RuleHealth, SeriesHealth};
pub use oauth_clients::ClientRecord;
pub use oauth_grants::{GrantRecord, GrantRejection, NewCode, RedeemedCode};
pub use points::NewPoint;
pub use rule_summaries::{CachedSummary, ListedHealth, RuleListItem, RuleSummary};
pub use rules::{RuleFilter, RuleRecord, RuleWithHealth};
pub use silences::{SilenceFilter, SilenceInput, SilenceRecord};
pub use tokens::{Credential, Principal, TOKEN_CACHE_TTL, TokenRecord, TokenRejection};
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
    evaluators: evaluators::Evaluators,
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
            evaluators: evaluators::Evaluators::Fleet,
        }
    }

    /// Announces rule writes to the workers through Redis.
    pub fn with_changes(mut self, changes: ChangePublisher) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Tells the worker fleet that a rule changed, after the commit.
    async fn announce_rule(&self, rule: &str, shard: Shard) {
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

    pub fn now(&self) -> Timestamp {
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

/// Runs `query` for at most `limit` rows with the limit written into the SQL
/// text instead of bound. The bundled SQLite (3.51) lets the value bound to
/// `LIMIT ?` shape the query plan, so binding that parameter again marks the
/// prepared statement expired: a cached statement with a bound limit is
/// parsed and planned anew on every execution (7 % of the instructions of a
/// `list_alert_rules` call). With the limit in the text the statement cache
/// works as intended; page sizes are few (1 to 201), so are the statements.
async fn all_limited<E, T>(
    db: &DatabaseConnection,
    query: sea_orm::Select<E>,
    limit: u64,
) -> Result<Vec<T>, sea_orm::DbErr>
where
    E: sea_orm::EntityTrait,
    T: sea_orm::TryGetableMany,
{
    use sea_orm::{ConnectionTrait, QueryTrait};
    let mut query = query.into_query();
    query.reset_limit();
    let mut statement = db.get_database_backend().build(&query);
    // LIMIT is the last clause of a plain SELECT (no OFFSET, lock or union
    // is used with this helper).
    statement.sql.push_str(" LIMIT ");
    statement.sql.push_str(&limit.to_string());
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(sea_orm::QueryResult::try_get_many_by_index)
        .collect()
}
