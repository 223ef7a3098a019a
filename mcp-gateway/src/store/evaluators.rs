//! Whether anything is evaluating a rule. A rule that has not been
//! evaluated is either new (its first evaluation is due within one
//! interval) or in a shard no worker holds, where it can never fire; the
//! two look the same in the rule's health, so listings tell them apart from
//! the fleet's leases.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use shared_models::{entity::shard_lease, shard::Shard};

use super::Store;
use crate::error::Result;

/// What evaluates the rules of this store's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluators {
    /// A worker in this process, evaluating every rule: no leases.
    InProcess,
    /// The worker fleet, each worker evaluating the shards it leases.
    Fleet,
}

/// Why an enabled rule has no current evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotEvaluated {
    /// New: the first evaluation is due within one interval.
    NotYet,
    /// No alert-worker holds the rule's shard, so it cannot fire until one runs.
    NoWorker,
}

impl NotEvaluated {
    /// For an enabled rule: evaluated before or not, and whether its shard
    /// is held. A held shard whose rule was evaluated needs no word; an
    /// unheld one is named even with an old evaluation, which is stale.
    pub fn of(enabled: bool, evaluated: bool, shard_held: bool) -> Option<Self> {
        match (enabled, shard_held, evaluated) {
            (false, _, _) => None,
            (true, false, _) => Some(Self::NoWorker),
            (true, true, false) => Some(Self::NotYet),
            (true, true, true) => None,
        }
    }
}

impl Store {
    /// Rules are evaluated by a worker in this process, not by the fleet.
    pub fn evaluated_in_process(mut self) -> Self {
        self.evaluators = Evaluators::InProcess;
        self
    }

    /// Those of `shards` that no worker holds a live lease on.
    pub(super) async fn unheld_shards(
        &self,
        mut shards: BTreeSet<Shard>,
    ) -> Result<BTreeSet<Shard>> {
        if self.evaluators == Evaluators::InProcess || shards.is_empty() {
            return Ok(BTreeSet::new());
        }
        let held: Vec<Shard> = shard_lease::Entity::find()
            .select_only()
            .column(shard_lease::Column::Shard)
            .filter(shard_lease::Column::Shard.is_in(shards.iter().copied()))
            .filter(shard_lease::Column::WorkerId.is_not_null())
            .filter(shard_lease::Column::ExpiresAt.gte(self.clock.now()))
            .into_tuple()
            .all(&self.db)
            .await?;
        for shard in held {
            shards.remove(&shard);
        }
        Ok(shards)
    }
}
