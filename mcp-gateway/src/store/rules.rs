use alert_worker::{Removal, delete_rule};
use schemars::JsonSchema;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use serde_json::{Map, Value};
use shared_models::{
    FieldError,
    entity::{TenantScoped, alert_rule, notification_channel, rule_status},
    ids::{ChannelId, RuleId, UserId},
    rule::{RuleSpec, Severity, apply_patch},
    shard::Shard,
    time::{duration_millis, format_millis},
};

use std::collections::BTreeSet;

use super::{
    NotEvaluated, Page, RuleHealth, Store, all_limited, cursor,
    rule_summaries::{ListedHealth, RuleListItem},
};

/// (id, version, enabled, shard, state, last evaluated at, last error) of a
/// listed rule.
type HealthRow = (
    String,
    i64,
    bool,
    Shard,
    Option<String>,
    Option<i64>,
    Option<String>,
);
use crate::error::{Error, Result};

/// A stored rule as clients see it: its id and bookkeeping beside the spec.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RuleRecord {
    pub id: String,
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// The worker shard that evaluates this rule.
    #[schemars(with = "u32")]
    pub shard: Shard,
    /// Increases by one on every change.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Saved, but it may never fire: e.g. no points now, naming what exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A stored rule with how its evaluation goes (get_alert_rule).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RuleWithHealth {
    #[serde(flatten)]
    pub rule: RuleRecord,
    /// How evaluation went last time; absent until the rule is first evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<RuleHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_evaluated: Option<NotEvaluated>,
}

impl TryFrom<alert_rule::Model> for RuleRecord {
    type Error = Error;

    fn try_from(row: alert_rule::Model) -> Result<Self> {
        Ok(Self {
            id: row.id.to_string(),
            spec: row.spec,
            shard: row.shard,
            version: row.version,
            created_at: row.created_at.to_string(),
            updated_at: row.updated_at.to_string(),
            warnings: Vec::new(),
        })
    }
}

#[derive(Debug, Default, Clone)]
pub struct RuleFilter {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    /// Case-sensitive substring of the name.
    pub name_contains: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

impl Store {
    pub async fn create_rule(&self, owner: UserId, spec: RuleSpec) -> Result<RuleRecord> {
        let id = RuleId::generate();
        let now = self.clock.now();
        let row = alert_rule::ActiveModel {
            id: Set(id),
            owner_id: Set(owner),
            name: Set(spec.name.as_str().to_owned()),
            enabled: Set(spec.enabled),
            severity: Set(spec.severity),
            interval_ms: Set(duration_millis(spec.interval.as_duration())),
            shard: Set(Shard::of(&id, self.shard_count)),
            spec: Set(spec.clone()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let txn = self.db.begin().await?;
        let row = row.insert(&txn).await?;
        self.check_channels(&txn, owner, &spec.channels).await?;
        txn.commit().await?;
        self.announce_rule(&row.id.to_string(), row.shard).await;
        row.try_into()
    }

    pub async fn get_rule(&self, owner: UserId, id: RuleId) -> Result<RuleRecord> {
        alert_rule::Entity::find_owned_by_id(owner, id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("alert rule", id.to_string()))?
            .try_into()
    }

    /// The rule with its evaluation health, and why it has none current.
    pub async fn get_rule_with_health(&self, owner: UserId, id: RuleId) -> Result<RuleWithHealth> {
        let rule = self.get_rule(owner, id).await?;
        let health = self.rule_health(owner, &rule.id).await?;
        let unheld = self.unheld_shards(BTreeSet::from([rule.shard])).await?;
        let not_evaluated =
            NotEvaluated::of(rule.spec.enabled, health.is_some(), unheld.is_empty());
        Ok(RuleWithHealth {
            rule,
            health,
            not_evaluated,
        })
    }

    pub async fn list_rules(
        &self,
        owner: UserId,
        filter: RuleFilter,
    ) -> Result<Page<RuleListItem>> {
        let size = cursor::page_size(filter.limit)?;
        let mut query = alert_rule::Entity::find_owned(owner);
        if let Some(enabled) = filter.enabled {
            query = query.filter(alert_rule::Column::Enabled.eq(enabled));
        }
        if let Some(severity) = filter.severity {
            query = query.filter(alert_rule::Column::Severity.eq(severity));
        }
        if let Some(fragment) = filter.name_contains.filter(|f| !f.is_empty()) {
            query = query.filter(alert_rule::Column::Name.contains(fragment));
        }
        if let Some(after) = filter.cursor {
            let last = cursor::decode(&after, 1)?.remove(0);
            query = query.filter(alert_rule::Column::Id.lt(last));
        }
        // Ids are UUIDv7, so id order is creation order: newest first.
        // Summaries come from the cache where the stored version matches;
        // health, which changes on every evaluation, comes with the ids.
        let query = query
            .select_only()
            .columns([
                alert_rule::Column::Id,
                alert_rule::Column::Version,
                alert_rule::Column::Enabled,
                alert_rule::Column::Shard,
            ])
            .left_join(rule_status::Entity)
            .column(rule_status::Column::State)
            .column(rule_status::Column::LastEvaluatedAt)
            .column(rule_status::Column::LastError)
            .order_by_desc(alert_rule::Column::Id);
        let rows: Vec<HealthRow> = all_limited(&self.db, query, size + 1).await?;
        let keys: Vec<(&str, i64)> = rows.iter().map(|r| (r.0.as_str(), r.1)).collect();
        let summaries = self.summaries_of(owner, &keys).await?;
        let unheld = self
            .unheld_shards(rows.iter().filter(|r| r.2).map(|r| r.3).collect())
            .await?;
        // The rules evaluated in one tick share their time: format it once.
        let mut evaluated: Option<(i64, String)> = None;
        let items = rows
            .into_iter()
            .zip(summaries)
            .filter_map(|((_, _, enabled, shard, state, at, last_error), summary)| {
                let last_evaluated_at = at.map(|at| match &evaluated {
                    Some((millis, text)) if *millis == at => text.clone(),
                    _ => evaluated.insert((at, format_millis(at))).1.clone(),
                });
                let not_evaluated =
                    NotEvaluated::of(enabled, at.is_some(), !unheld.contains(&shard));
                Some(RuleListItem {
                    summary: summary?,
                    health: ListedHealth {
                        state,
                        last_evaluated_at,
                        last_error,
                        not_evaluated,
                    },
                })
            })
            .collect();
        Ok(cursor::paginate(items, size, |r| {
            cursor::encode(&[&r.summary.summary.id])
        }))
    }

    /// Merges `patch` into the rule. The write is conditional on the version
    /// read, so two concurrent updates cannot silently drop one another.
    pub async fn update_rule(
        &self,
        owner: UserId,
        id: RuleId,
        patch: Map<String, Value>,
    ) -> Result<RuleRecord> {
        let current = self.get_rule(owner, id).await?;
        let spec = apply_patch(&current.spec, patch, &self.limits)?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let result = alert_rule::Entity::update_owned(owner)
            .col_expr(alert_rule::Column::Name, Expr::value(spec.name.as_str()))
            .col_expr(alert_rule::Column::Enabled, Expr::value(spec.enabled))
            .col_expr(alert_rule::Column::Severity, Expr::value(spec.severity))
            .col_expr(
                alert_rule::Column::IntervalMs,
                Expr::value(duration_millis(spec.interval.as_duration())),
            )
            .col_expr(alert_rule::Column::Spec, Expr::value(spec.clone()))
            .col_expr(
                alert_rule::Column::Version,
                Expr::value(current.version + 1),
            )
            .col_expr(alert_rule::Column::UpdatedAt, Expr::value(now))
            .filter(alert_rule::Column::Id.eq(current.id.as_str()))
            .filter(alert_rule::Column::Version.eq(current.version))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "alert rule {} was changed or deleted by another request; read it again and retry",
                current.id
            )));
        }
        self.check_channels(&txn, owner, &spec.channels).await?;
        txn.commit().await?;
        self.announce_rule(&current.id, current.shard).await;
        Ok(RuleRecord {
            spec,
            version: current.version + 1,
            updated_at: now.to_string(),
            ..current
        })
    }

    /// Deletes the rule and its evaluation state, and resolves its open
    /// alerts (the worker's [`delete_rule`]): nothing will ever evaluate
    /// them again, so leaving them firing would leave them firing forever.
    /// The alert history stays.
    pub async fn delete_rule(&self, owner: UserId, id: RuleId) -> Result<()> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // A write first: on SQLite it takes the write lock before anything
        // is read, so the transaction never has to upgrade a read snapshot
        // that the engine's commits have made stale.
        let touched = alert_rule::Entity::update_owned(owner)
            .col_expr(alert_rule::Column::UpdatedAt, Expr::value(now))
            .filter(alert_rule::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        let row = match touched.rows_affected {
            0 => None,
            _ => {
                alert_rule::Entity::find_owned_by_id(owner, id)
                    .one(&txn)
                    .await?
            }
        };
        let Some(row) = row else {
            return Err(Error::not_found("alert rule", id.to_string()));
        };
        let shard = row.shard;
        if delete_rule(&txn, owner, row, now).await? == Removal::Missing {
            return Err(Error::not_found("alert rule", id.to_string()));
        }
        txn.commit().await?;
        self.announce_rule(&id.to_string(), shard).await;
        Ok(())
    }

    /// Refuses a rule that names a channel its owner does not have, inside
    /// the transaction that writes the rule and after the write (an error
    /// rolls the write back). On SQLite the write has taken the one write
    /// lock by then, so no `delete_channel` can run in between, and no read
    /// snapshot taken earlier has to be upgraded to a write. On MariaDB the
    /// channels are read `FOR UPDATE`: a concurrent `delete_channel` either
    /// commits first, and this finds the channel gone, or waits for this
    /// commit and then counts the rule.
    async fn check_channels(
        &self,
        txn: &impl ConnectionTrait,
        owner: UserId,
        channels: &[ChannelId],
    ) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let found: Vec<String> = notification_channel::Entity::find_owned(owner)
            .select_only()
            .column(notification_channel::Column::Id)
            .filter(
                notification_channel::Column::Id.is_in(channels.iter().map(ChannelId::to_string)),
            )
            .lock_exclusive()
            .into_tuple()
            .all(txn)
            .await?;
        match channels
            .iter()
            .position(|id| !found.contains(&id.to_string()))
        {
            Some(i) => Err(FieldError::new(
                format!("channels[{i}]"),
                "no such notification channel; create one with create_notification_channel or pick one from list_notification_channels",
            )
            .into()),
            None => Ok(()),
        }
    }

    /// How many of `owner`'s rules list `channel`. The spec is JSON text:
    /// the id narrows the rows in SQL, and parsing the candidates makes sure
    /// it is in `channels` and not merely mentioned in a description.
    pub(super) async fn rules_naming_channel(
        &self,
        txn: &impl ConnectionTrait,
        owner: UserId,
        channel: ChannelId,
    ) -> Result<Vec<(String, String)>> {
        let candidates: Vec<(String, String, RuleSpec)> = alert_rule::Entity::find_owned(owner)
            .select_only()
            .column(alert_rule::Column::Id)
            .column(alert_rule::Column::Name)
            .column(alert_rule::Column::Spec)
            .filter(alert_rule::Column::Spec.contains(format!("\"{channel}\"")))
            .order_by_asc(alert_rule::Column::Name)
            .into_tuple()
            .all(txn)
            .await?;
        let mut naming = Vec::new();
        for (id, name, spec) in candidates {
            if spec.channels.contains(&channel) {
                naming.push((id, name));
            }
        }
        Ok(naming)
    }
}
