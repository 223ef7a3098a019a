//! The built-in metrics store: points written to the gateway's `/write`
//! endpoints, read back from the `points` table of the product database.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, HashMap},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, QueryFilter, QueryOrder, QuerySelect, Select,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use shared_models::{
    entity::{TenantScoped, point},
    ids::UserId,
    rule::Aggregation,
    time::{duration_millis, to_millis},
};

use super::{
    CatalogRequest, MeasurementInfo, MetricCatalog, MetricSource, Reduce, SeriesQuery, SeriesValue,
    SourceError,
};

/// Most fields listed per measurement in the catalog.
const CATALOG_FIELDS: u64 = 1_000;
/// Most distinct tag sets read per measurement to list tag keys and values:
/// bounds the catalog's cost on high-cardinality measurements.
const CATALOG_TAG_SETS: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct BuiltinSource {
    db: DatabaseConnection,
    default_database: String,
}

impl BuiltinSource {
    pub fn new(db: DatabaseConnection, default_database: String) -> Self {
        Self {
            db,
            default_database,
        }
    }

    fn database<'a>(&'a self, requested: Option<&'a str>) -> &'a str {
        requested.unwrap_or(&self.default_database)
    }

    /// The owner's points of one database, measurement and field.
    fn points(&self, owner: UserId, database: &str, measurement: &str) -> Select<point::Entity> {
        point::Entity::find_owned(owner)
            .filter(point::Column::Db.eq(database))
            .filter(point::Column::Measurement.eq(measurement))
    }

    async fn query_one(
        &self,
        query: &SeriesQuery,
        at: DateTime<Utc>,
    ) -> Result<Vec<SeriesValue>, SourceError> {
        let database = self.database(query.database.as_deref());
        let end = to_millis(at);
        let window = duration_millis(query.window);
        let start = end.saturating_sub(window);
        let rows: Vec<Row> = self
            .points(query.owner, database, &query.measurement)
            .filter(point::Column::Field.eq(&query.field))
            .filter(point::Column::Time.gt(start))
            .filter(point::Column::Time.lte(end))
            .select_only()
            .columns([
                point::Column::Db,
                point::Column::Measurement,
                point::Column::Field,
                point::Column::SeriesKey,
                point::Column::Tags,
                point::Column::Time,
                point::Column::Id,
                point::Column::Value,
            ])
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;

        let mut series: HashMap<String, (String, Summary)> = HashMap::new();
        for (db, measurement, field, key, tags, time, id, value) in rows {
            // MySQL's default collations compare case- and trailing-space-
            // insensitively; names here are exact, as in InfluxDB.
            if db != database || measurement != query.measurement || field != query.field {
                continue;
            }
            let sample = Summary::of(time, id, value);
            match series.get_mut(&key) {
                Some((_, summary)) => summary.merge(&sample),
                None => {
                    series.insert(key, (tags, sample));
                }
            }
        }

        let mut groups: BTreeMap<BTreeMap<String, String>, Summary> = BTreeMap::new();
        for (key, (tags, summary)) in series {
            let tags: BTreeMap<String, String> = serde_json::from_str(&tags).map_err(|e| {
                SourceError::Protocol(format!("stored tags of series {key:?} are unreadable: {e}"))
            })?;
            let tag = |name: &str| tags.get(name).map_or("", String::as_str);
            // A wanted value of "" matches series without the tag, as in
            // InfluxDB, where a missing tag reads as empty.
            if !query.tags.iter().all(|(name, wanted)| tag(name) == wanted) {
                continue;
            }
            let labels = query
                .group_by
                .iter()
                .map(|name| (name.clone(), tag(name).to_owned()))
                .collect();
            match groups.get_mut(&labels) {
                Some(group) => group.merge(&summary),
                None => {
                    groups.insert(labels, summary);
                }
            }
        }
        Ok(groups
            .into_iter()
            .map(|(labels, summary)| SeriesValue {
                labels,
                value: summary.reduce(query.reduce),
            })
            .collect())
    }
}

/// `db, measurement, field, series_key, tags, time, id, value`.
type Row = (String, String, String, String, String, i64, i64, f64);

/// Everything any reduction needs, mergeable across points and series.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// The earliest point; of several at one instant, the last written,
    /// since a rewrite of a point replaces it in InfluxDB.
    first: ((i64, Reverse<i64>), f64),
    /// The latest point; of several at one instant, the last written.
    last: ((i64, i64), f64),
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(time: i64, id: i64, value: f64) -> Self {
        Self {
            first: ((time, Reverse(id)), value),
            last: ((time, id), value),
            count: 1,
            sum: value,
            min: value,
            max: value,
        }
    }

    fn merge(&mut self, other: &Self) {
        if other.first.0 < self.first.0 {
            self.first = other.first;
        }
        if other.last.0 > self.last.0 {
            self.last = other.last;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn reduce(&self, reduce: Reduce) -> f64 {
        match reduce {
            Reduce::First => self.first.1,
            Reduce::Rule(Aggregation::Last) => self.last.1,
            Reduce::Rule(Aggregation::Mean) => self.sum / self.count as f64,
            Reduce::Rule(Aggregation::Min) => self.min,
            Reduce::Rule(Aggregation::Max) => self.max,
            Reduce::Rule(Aggregation::Sum) => self.sum,
            Reduce::Rule(Aggregation::Count) => self.count as f64,
        }
    }
}

#[async_trait]
impl MetricSource for BuiltinSource {
    async fn query(
        &self,
        queries: &[SeriesQuery],
        at: DateTime<Utc>,
    ) -> Vec<Result<Vec<SeriesValue>, SourceError>> {
        // Rules watching the same metric the same way share one query.
        let mut unique: Vec<&SeriesQuery> = Vec::new();
        let mut seen: HashMap<&SeriesQuery, usize> = HashMap::new();
        let slots: Vec<usize> = queries
            .iter()
            .map(|query| {
                *seen.entry(query).or_insert_with(|| {
                    unique.push(query);
                    unique.len() - 1
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(unique.len());
        for query in unique {
            answers.push(self.query_one(query, at).await);
        }
        slots.into_iter().map(|i| answers[i].clone()).collect()
    }

    async fn catalog(&self, request: &CatalogRequest) -> Result<MetricCatalog, SourceError> {
        let database = self.database(request.database.as_deref());
        let prefix = request.prefix.as_deref().unwrap_or_default();
        let mut names = point::Entity::find_owned(request.owner)
            .filter(point::Column::Db.eq(database))
            .select_only()
            .column(point::Column::Measurement)
            .distinct();
        if !prefix.is_empty() {
            let pattern = LikeExpr::new(format!("{}%", escape_like(prefix))).escape('\\');
            names = names.filter(Expr::col(point::Column::Measurement).like(pattern));
        }
        // One more than asked, to know whether there are more.
        let mut names: Vec<String> = names
            .order_by_asc(point::Column::Measurement)
            .limit(u64::try_from(request.measurements_limit.saturating_add(1)).unwrap_or(u64::MAX))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;

        let more_measurements = names.len() > request.measurements_limit;
        // SQLite's LIKE ignores ASCII case, and its order and MySQL's binary
        // one may differ: filter and sort here, exactly.
        names.retain(|n| n.starts_with(prefix));
        names.sort();
        names.truncate(request.measurements_limit);
        let mut measurements = Vec::with_capacity(names.len());
        for name in names {
            if !request.describe {
                measurements.push(MeasurementInfo {
                    name,
                    ..MeasurementInfo::default()
                });
                continue;
            }
            let fields: Vec<String> = self
                .points(request.owner, database, &name)
                .select_only()
                .column(point::Column::Field)
                .distinct()
                .order_by_asc(point::Column::Field)
                .limit(CATALOG_FIELDS)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_error)?;
            let tag_sets: Vec<String> = self
                .points(request.owner, database, &name)
                .select_only()
                .column(point::Column::Tags)
                .distinct()
                .limit(CATALOG_TAG_SETS)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_error)?;
            // Past this many tag sets, any key may have values not seen.
            let sets_cut = tag_sets.len() as u64 >= CATALOG_TAG_SETS;
            let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for set in tag_sets {
                let set: BTreeMap<String, String> = serde_json::from_str(&set).map_err(|e| {
                    SourceError::Protocol(format!("stored tags of {name:?} are unreadable: {e}"))
                })?;
                for (key, value) in set {
                    tags.entry(key).or_default().insert(value);
                }
            }
            let mut info = MeasurementInfo {
                name,
                fields,
                ..MeasurementInfo::default()
            };
            for (key, values) in tags {
                if sets_cut {
                    info.more_tag_values.insert(key.clone());
                }
                info.set_tag_values(key, values.into_iter().collect(), request.values_limit);
            }
            measurements.push(info);
        }
        Ok(MetricCatalog {
            measurements,
            more_measurements,
        })
    }
}

/// `%`, `_` and the escape character itself match literally.
fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `SourceError` is `Clone` and carries text, so the cause chain is written
/// into it here, once.
fn db_error(error: DbErr) -> SourceError {
    let mut text = error.to_string();
    let mut next = std::error::Error::source(&error);
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => SourceError::Unreachable(text),
        _ => SourceError::Refused(text),
    }
}
