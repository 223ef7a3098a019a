//! The rules this engine evaluates, kept in memory and refreshed from the
//! database by (id, version): a refresh reads two small columns per rule and
//! fetches the full spec only for rules that are new or changed.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use shared_models::{
    entity::alert_rule,
    ids::{RuleId, UserId},
    rule::RuleSpec,
    shard::Shard,
    time::{Timestamp, duration_millis},
};

use crate::{error::Result, fleet::Ownership};

#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub id: RuleId,
    pub owner: UserId,
    pub version: i64,
    pub shard: Shard,
    pub spec: RuleSpec,
    /// The next aligned tick at which the rule is due.
    pub next_due: Timestamp,
}

impl LoadedRule {
    /// The rule a stored row holds, not yet scheduled (`next_due` the epoch).
    pub fn from_row(row: alert_rule::Model) -> Self {
        Self {
            id: row.id,
            owner: row.owner_id,
            version: row.version,
            shard: row.shard,
            spec: row.spec,
            next_due: Timestamp::EPOCH,
        }
    }

    /// A rule not stored (a preview, or one about to be): a fresh id, in
    /// no shard, never scheduled.
    pub fn draft(owner: UserId, spec: RuleSpec) -> Self {
        Self {
            id: RuleId::generate(),
            owner,
            version: 0,
            shard: Shard::FIRST,
            spec,
            next_due: Timestamp::EPOCH,
        }
    }

    /// The evaluation interval, at least a millisecond.
    pub fn interval(&self) -> Duration {
        self.spec
            .interval
            .as_duration()
            .max(Duration::from_millis(1))
    }

    pub fn interval_ms(&self) -> i64 {
        duration_millis(self.interval())
    }
}

/// Which rules an engine evaluates: all of them (one process), or those in
/// the shards whose leases a fleet worker currently holds.
#[derive(Debug, Clone)]
pub enum RuleScope {
    All,
    Fleet(Ownership),
}

impl RuleScope {
    /// The shards in scope at `now` with their lease epochs; `None` for all.
    pub fn shards(&self, now: Timestamp) -> Option<BTreeMap<Shard, i64>> {
        match self {
            Self::All => None,
            Self::Fleet(ownership) => Some(ownership.current(now)),
        }
    }
}

/// The tick at or before `now` on the grid of `interval` (aligned to the
/// epoch), so that all workers and restarts agree on when a rule is due.
pub fn aligned_tick(now: Timestamp, interval: Duration) -> Timestamp {
    let now = now.as_millis();
    Timestamp::from_millis(now - now.rem_euclid(duration_millis(interval).max(1)))
}

#[derive(Debug, Default)]
pub struct RuleSet {
    rules: HashMap<RuleId, LoadedRule>,
}

impl RuleSet {
    pub fn due(&self, now: Timestamp) -> Vec<RuleId> {
        self.rules
            .values()
            .filter(|r| r.next_due <= now)
            .map(|r| r.id)
            .collect()
    }

    pub fn get(&self, id: &RuleId) -> Option<&LoadedRule> {
        self.rules.get(id)
    }

    pub fn next_due(&self) -> Option<Timestamp> {
        self.rules.values().map(|r| r.next_due).min()
    }

    /// After evaluating a rule at `tick`, it is next due on the first tick
    /// after `now`: a slow evaluation skips ticks instead of stacking them.
    pub fn mark_evaluated(&mut self, id: &RuleId, now: Timestamp) {
        if let Some(rule) = self.rules.get_mut(id) {
            let interval = rule.interval();
            rule.next_due = aligned_tick(now, interval) + interval;
        }
    }

    /// Brings the set in line with the enabled rules in scope. New rules are
    /// due at once (on the current tick); changed rules keep their schedule
    /// unless their interval changed.
    pub async fn refresh(
        &mut self,
        db: &DatabaseConnection,
        scope: &RuleScope,
        now: Timestamp,
    ) -> Result<RefreshReport> {
        let mut query = alert_rule::Entity::find()
            .select_only()
            .columns([alert_rule::Column::Id, alert_rule::Column::Version])
            .filter(alert_rule::Column::Enabled.eq(true));
        if let Some(shards) = scope.shards(now) {
            query = query.filter(alert_rule::Column::Shard.is_in(shards.into_keys()));
        }
        let current: Vec<(RuleId, i64)> = query.into_tuple().all(db).await?;
        let wanted: HashMap<RuleId, i64> = current.into_iter().collect();
        let before = self.rules.len();
        self.rules.retain(|id, _| wanted.contains_key(id));
        let removed = before - self.rules.len();
        let stale: Vec<String> = wanted
            .iter()
            .filter(|(id, version)| self.rules.get(id).is_none_or(|r| r.version != **version))
            .map(|(id, _)| id.to_string())
            .collect();
        let mut loaded = 0;
        for chunk in stale.chunks(500) {
            let rows = alert_rule::Entity::find()
                .filter(alert_rule::Column::Id.is_in(chunk.iter().cloned()))
                .all(db)
                .await?;
            for row in rows {
                let mut rule = LoadedRule::from_row(row);
                rule.next_due = match self.rules.get(&rule.id) {
                    Some(old) if old.spec.interval == rule.spec.interval => old.next_due,
                    _ => aligned_tick(now, rule.interval()),
                };
                self.rules.insert(rule.id, rule);
                loaded += 1;
            }
        }
        Ok(RefreshReport {
            total: self.rules.len(),
            loaded,
            removed,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshReport {
    pub total: usize,
    pub loaded: usize,
    pub removed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_align_to_the_epoch_grid() {
        let at = Timestamp::from_millis;
        let ten = Duration::from_secs(10);
        assert_eq!(aligned_tick(at(25_000), ten), at(20_000));
        assert_eq!(aligned_tick(at(30_000), ten), at(30_000));
        assert_eq!(aligned_tick(at(-1), ten), at(-10_000));
    }
}
