//! The built-in metrics store: points written through `/write`, kept for
//! installations that evaluate rules without InfluxDB.

use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use shared_models::{
    entity::{TenantScoped, point},
    ids::UserId,
};

use super::Store;
use crate::error::Result;

/// One numeric field value, validated and ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPoint {
    pub db: String,
    pub measurement: String,
    pub field: String,
    /// `shared_models::series::series_key` of `tags`.
    pub series_key: String,
    /// The tags as a JSON object text.
    pub tags: String,
    /// Milliseconds since the epoch; `None` means "now", by the store clock.
    pub time: Option<i64>,
    pub value: f64,
}

/// Rows per INSERT: 8 bound values each, far below the placeholder limits of
/// SQLite (32,766) and MySQL (65,535), and large enough that statement
/// overhead is a small share of the work.
const INSERT_CHUNK: usize = 1_000;

/// Rows per retention DELETE, so that one sweep never holds SQLite's single
/// write lock (or MySQL row locks) long enough to stall ingestion.
const DELETE_CHUNK: u64 = 5_000;

impl Store {
    /// Stores all points for `owner`, or none: one transaction per call, so
    /// that a request refused halfway leaves nothing behind.
    pub async fn insert_points(&self, owner: UserId, points: Vec<NewPoint>) -> Result<u64> {
        if points.is_empty() {
            return Ok(0);
        }
        // Point times are bare milliseconds: see `point::Model::time`.
        let now = self.clock.now().as_millis();
        let owner = owner.to_string();
        let txn = self.db.begin().await?;
        let mut stored = 0;
        let mut rows = points.into_iter().map(|p| point::ActiveModel {
            owner_id: Set(owner.clone()),
            db: Set(p.db),
            measurement: Set(p.measurement),
            field: Set(p.field),
            series_key: Set(p.series_key),
            tags: Set(p.tags),
            time: Set(p.time.unwrap_or(now)),
            value: Set(p.value),
            ..Default::default()
        });
        loop {
            let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            stored += point::Entity::insert_many(chunk)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(stored)
    }

    /// Deletes every tenant's points older than `cutoff_ms`; returns how many.
    ///
    /// Deliberately not owner-scoped: retention is an operator-level
    /// maintenance policy over the whole table, not a tenant request, and it
    /// is never reachable from a client. Works in chunks, oldest first.
    pub async fn delete_points_before(&self, cutoff_ms: i64) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let ids: Vec<i64> = point::Entity::find()
                .select_only()
                .column(point::Column::Id)
                .filter(point::Column::Time.lt(cutoff_ms))
                .order_by_asc(point::Column::Time)
                .limit(DELETE_CHUNK)
                .into_tuple()
                .all(&self.db)
                .await?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            let full = ids.len() as u64 == DELETE_CHUNK;
            deleted += point::Entity::delete_many()
                .filter(point::Column::Id.is_in(ids))
                .exec(&self.db)
                .await?
                .rows_affected;
            if !full {
                return Ok(deleted);
            }
        }
    }

    /// The databases (buckets) `owner` has written points to, for InfluxDB's
    /// `SHOW DATABASES`.
    pub async fn point_databases(&self, owner: UserId) -> Result<Vec<String>> {
        Ok(point::Entity::find_owned(owner)
            .select_only()
            .column(point::Column::Db)
            .distinct()
            .order_by_asc(point::Column::Db)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
