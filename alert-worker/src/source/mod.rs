//! Where metric values come from. Every source answers the same batch of
//! queries; adding one (say, InfluxDB 3 over SQL) is one new file here.

pub mod builtin;
pub mod influx;
mod select;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub use select::build_source;
use shared_models::{ids::UserId, rule::Aggregation};

/// How the points in the window are reduced. The rule aggregations plus
/// `First`, which percent-change conditions compare against `Last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reduce {
    Rule(Aggregation),
    First,
}

/// One value per series over `[at - window, at]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesQuery {
    /// Whose data (the built-in store is per tenant; InfluxDB ignores it).
    pub owner: UserId,
    /// `None`: the source's default database.
    pub database: Option<String>,
    pub measurement: String,
    pub field: String,
    pub tags: BTreeMap<String, String>,
    pub reduce: Reduce,
    pub window: Duration,
    pub group_by: Vec<String>,
}

/// The reduced value of one series; `labels` holds the `group_by` tag values.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
    #[error("metrics store unreachable: {0}")]
    Unreachable(String),
    #[error("metrics store refused the query: {0}")]
    Refused(String),
    #[error("unexpected answer from the metrics store: {0}")]
    Protocol(String),
}

/// Measurements, fields and tags available to a tenant.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MetricCatalog {
    pub measurements: Vec<MeasurementInfo>,
    /// More measurements match than `measurements_limit` allowed.
    pub more_measurements: bool,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MeasurementInfo {
    pub name: String,
    pub fields: Vec<String>,
    /// Tag keys with up to `values_limit` values each.
    pub tags: BTreeMap<String, Vec<String>>,
    /// The tag keys that have more values than are listed.
    pub more_tag_values: BTreeSet<String>,
}

impl MeasurementInfo {
    /// Lists at most `limit` of a tag key's `values`, noting when there
    /// were more. Sources ask for one more than the limit to know.
    pub fn set_tag_values(&mut self, key: String, mut values: Vec<String>, limit: usize) {
        if values.len() > limit {
            values.truncate(limit);
            self.more_tag_values.insert(key.clone());
        }
        self.tags.insert(key, values);
    }
}

#[derive(Debug, Clone)]
pub struct CatalogRequest {
    pub owner: UserId,
    pub database: Option<String>,
    /// Only measurements whose name starts with this.
    pub prefix: Option<String>,
    pub measurements_limit: usize,
    pub values_limit: usize,
    /// Fields and tags too; without, names alone (one cheap request).
    pub describe: bool,
}

#[async_trait]
pub trait MetricSource: Send + Sync + std::fmt::Debug {
    /// Answers each query as of `at`, in order: one result per query, so
    /// one failing query does not fail the others.
    async fn query(
        &self,
        queries: &[SeriesQuery],
        at: DateTime<Utc>,
    ) -> Vec<Result<Vec<SeriesValue>, SourceError>>;

    async fn catalog(&self, request: &CatalogRequest) -> Result<MetricCatalog, SourceError>;
}
