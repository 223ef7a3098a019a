//! Membership and shard leases in the product database. Every change is one
//! conditional UPDATE, so concurrent workers never both win a shard, and a
//! claim always takes a new epoch, which fences out the previous holder.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set, UpdateMany,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use shared_models::{
    entity::{shard_lease, worker},
    shard::Shard,
    time::Timestamp,
};

use crate::error::Result;

/// This worker's handle on the membership and lease tables.
#[derive(Debug, Clone)]
pub struct Leases {
    db: DatabaseConnection,
    worker_id: String,
    ttl: Duration,
}

impl Leases {
    pub fn new(db: DatabaseConnection, worker_id: String, ttl: Duration) -> Self {
        Self { db, worker_id, ttl }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Announces this worker, or renews its announcement.
    pub async fn heartbeat(&self, host: &str, started_at: Timestamp, now: Timestamp) -> Result<()> {
        worker::Entity::insert(worker::ActiveModel {
            id: Set(self.worker_id.clone()),
            host: Set(host.to_owned()),
            started_at: Set(started_at),
            heartbeat_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(worker::Column::Id)
                .update_column(worker::Column::HeartbeatAt)
                .to_owned(),
        )
        .exec(&self.db)
        .await?;
        Ok(())
    }

    /// Workers whose last heartbeat is within one lease TTL.
    pub async fn live_workers(&self, now: Timestamp) -> Result<BTreeSet<String>> {
        Ok(worker::Entity::find()
            .select_only()
            .column(worker::Column::Id)
            .filter(worker::Column::HeartbeatAt.gte(now - self.ttl))
            .into_tuple()
            .all(&self.db)
            .await?
            .into_iter()
            .collect())
    }

    /// Creates the lease rows of shards that have none yet, unowned.
    pub async fn ensure_rows(&self, shard_count: u32) -> Result<()> {
        let have = shard_lease::Entity::find().count(&self.db).await?;
        if have >= u64::from(shard_count) {
            return Ok(());
        }
        let rows: Vec<shard_lease::ActiveModel> = Shard::all(shard_count)
            .map(|shard| shard_lease::ActiveModel {
                shard: Set(shard),
                worker_id: Set(None),
                epoch: Set(0),
                expires_at: Set(Timestamp::EPOCH),
            })
            .collect();
        for chunk in rows.chunks(500) {
            shard_lease::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([shard_lease::Column::Shard])
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    /// Claims `shard` if it is free or its lease has lapsed; returns the new
    /// epoch on success.
    pub async fn claim(&self, shard: Shard, now: Timestamp) -> Result<Option<i64>> {
        let claimed = shard_lease::Entity::update_many()
            .col_expr(
                shard_lease::Column::WorkerId,
                Expr::value(self.worker_id.clone()),
            )
            .col_expr(
                shard_lease::Column::Epoch,
                Expr::col(shard_lease::Column::Epoch).add(1),
            )
            .col_expr(shard_lease::Column::ExpiresAt, Expr::value(now + self.ttl))
            .filter(shard_lease::Column::Shard.eq(shard))
            .filter(
                Condition::any()
                    .add(shard_lease::Column::WorkerId.is_null())
                    .add(shard_lease::Column::ExpiresAt.lt(now)),
            )
            .exec(&self.db)
            .await?;
        if claimed.rows_affected == 0 {
            return Ok(None);
        }
        Ok(shard_lease::Entity::find_by_id(shard)
            .filter(shard_lease::Column::WorkerId.eq(self.worker_id.as_str()))
            .one(&self.db)
            .await?
            .map(|lease| lease.epoch))
    }

    /// When the first of `shards`' current leases lapses, if any is held.
    pub async fn earliest_expiry(
        &self,
        shards: &BTreeSet<Shard>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>> {
        if shards.is_empty() {
            return Ok(None);
        }
        let expiries: Vec<Timestamp> = shard_lease::Entity::find()
            .select_only()
            .column(shard_lease::Column::ExpiresAt)
            .filter(shard_lease::Column::Shard.is_in(shards.iter().copied()))
            .filter(shard_lease::Column::ExpiresAt.gte(now))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(expiries.into_iter().min())
    }

    /// Extends the leases in `held` (shard → epoch) that are still this
    /// worker's, unexpired and of the same epoch; returns those kept.
    pub async fn renew(
        &self,
        held: &BTreeMap<Shard, i64>,
        now: Timestamp,
    ) -> Result<BTreeMap<Shard, i64>> {
        if held.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mine = || {
            Condition::all()
                .add(shard_lease::Column::WorkerId.eq(self.worker_id.as_str()))
                .add(shard_lease::Column::Shard.is_in(held.keys().copied()))
        };
        shard_lease::Entity::update_many()
            .col_expr(shard_lease::Column::ExpiresAt, Expr::value(now + self.ttl))
            .filter(mine())
            .filter(shard_lease::Column::ExpiresAt.gte(now))
            .exec(&self.db)
            .await?;
        let rows = shard_lease::Entity::find()
            .filter(mine())
            .filter(shard_lease::Column::ExpiresAt.eq(now + self.ttl))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|lease| held.get(&lease.shard) == Some(&lease.epoch))
            .map(|lease| (lease.shard, lease.epoch))
            .collect())
    }

    /// Gives shards up at once, for another worker to claim without
    /// waiting for the lease to lapse.
    pub async fn release(&self, shards: impl IntoIterator<Item = Shard>) -> Result<()> {
        let shards: Vec<Shard> = shards.into_iter().collect();
        if shards.is_empty() {
            return Ok(());
        }
        self.release_held()
            .filter(shard_lease::Column::Shard.is_in(shards))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// This worker's leases, unassigned and lapsed, for a filter to narrow.
    fn release_held(&self) -> UpdateMany<shard_lease::Entity> {
        shard_lease::Entity::update_many()
            .col_expr(
                shard_lease::Column::WorkerId,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                shard_lease::Column::ExpiresAt,
                Expr::value(Timestamp::EPOCH),
            )
            .filter(shard_lease::Column::WorkerId.eq(self.worker_id.as_str()))
    }

    /// Leaves the fleet: every lease released, the membership row removed.
    pub async fn leave(&self) -> Result<()> {
        self.release_held().exec(&self.db).await?;
        worker::Entity::delete_by_id(self.worker_id.clone())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// The check that makes a batch's writes conditional on its leases, run
/// first in the batch's transaction: every shard must still be `worker`'s,
/// unexpired, at the epoch the batch was evaluated under. The statement is
/// a write, so it locks the lease rows (MariaDB) or the database (SQLite)
/// until commit: a claim by another worker waits, then takes a new epoch.
pub async fn fence<C: ConnectionTrait>(
    txn: &C,
    worker_id: &str,
    epochs: &BTreeMap<Shard, i64>,
    now: Timestamp,
) -> Result<bool> {
    if epochs.is_empty() {
        return Ok(true);
    }
    // By primary key only, so that MariaDB locks just these rows: an
    // OR of (shard, epoch) pairs is a scan that locks every lease row and
    // serialises the whole fleet behind one batch.
    let shards = || shard_lease::Column::Shard.is_in(epochs.keys().copied());
    let held = shard_lease::Entity::update_many()
        .col_expr(
            shard_lease::Column::ExpiresAt,
            Expr::col(shard_lease::Column::ExpiresAt),
        )
        .filter(shards())
        .filter(shard_lease::Column::WorkerId.eq(worker_id))
        .filter(shard_lease::Column::ExpiresAt.gte(now))
        .exec(txn)
        .await?;
    if held.rows_affected != epochs.len() as u64 {
        return Ok(false);
    }
    // The rows are locked now; their epochs cannot change before commit.
    let current: BTreeMap<Shard, i64> = shard_lease::Entity::find()
        .select_only()
        .columns([shard_lease::Column::Shard, shard_lease::Column::Epoch])
        .filter(shards())
        .into_tuple()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    Ok(&current == epochs)
}

/// A worker as `alert-worker status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub worker_id: String,
    pub host: String,
    pub heartbeat_age_ms: i64,
    /// Shards whose lease it holds, current at the time asked.
    pub shards: usize,
}

/// Every announced worker, most recently heard from first.
pub async fn members(db: &DatabaseConnection, now: Timestamp) -> Result<Vec<Member>> {
    let leases = shard_lease::Entity::find()
        .filter(shard_lease::Column::ExpiresAt.gte(now))
        .all(db)
        .await?;
    let mut out: Vec<Member> = worker::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|w| Member {
            shards: leases
                .iter()
                .filter(|l| l.worker_id.as_deref() == Some(w.id.as_str()))
                .count(),
            heartbeat_age_ms: now.as_millis() - w.heartbeat_at.as_millis(),
            worker_id: w.id,
            host: w.host,
        })
        .collect();
    out.sort_by_key(|m| m.heartbeat_age_ms);
    Ok(out)
}

/// Shards no worker holds a current lease on.
pub async fn unowned_shards(db: &DatabaseConnection, now: Timestamp) -> Result<u64> {
    Ok(shard_lease::Entity::find()
        .filter(
            Condition::any()
                .add(shard_lease::Column::WorkerId.is_null())
                .add(shard_lease::Column::ExpiresAt.lt(now)),
        )
        .count(db)
        .await?)
}
