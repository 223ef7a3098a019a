//! The InfluxDB source against a real InfluxDB 1.x started by the tests.

mod catalog;
mod queries;
mod transport;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use crate::source::{
    CatalogRequest, MeasurementInfo, MetricSource, Reduce, SeriesQuery, SeriesValue, SourceError,
    influx::{InfluxConfig, InfluxSource},
};
use crate::testing::influxd::{influxd, lp_key, lp_measurement};
use chrono::{DateTime, TimeZone, Utc};
use shared_models::{ids::UserId, rule::Aggregation, secret::Secret};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// The evaluation time of every test: 2024-01-01T00:00:00Z.
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time")
}

/// Milliseconds since the epoch of `at() + offset_s` seconds.
fn ms(offset_s: i64) -> i64 {
    at().timestamp_millis() + offset_s * 1000
}

fn config(url: &str, database: &str) -> InfluxConfig {
    InfluxConfig {
        url: url.to_owned(),
        default_database: database.to_owned(),
        token: None,
        username: None,
        password: None,
        timeout: Duration::from_secs(10),
        max_concurrency: 4,
        max_statements_per_request: 100,
    }
}

fn source(database: &str) -> InfluxSource {
    InfluxSource::new(config(influxd().url(), database)).expect("valid settings")
}

fn query(measurement: &str, field: &str, tags: &[(&str, &str)], reduce: Reduce) -> SeriesQuery {
    SeriesQuery {
        owner: UserId::generate(),
        database: None,
        measurement: measurement.to_owned(),
        field: field.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        reduce,
        window: Duration::from_secs(60),
        group_by: Vec::new(),
    }
}

fn rule(aggregation: Aggregation) -> Reduce {
    Reduce::Rule(aggregation)
}

/// The single value of an ungrouped answer.
fn single(result: &Result<Vec<SeriesValue>, SourceError>) -> f64 {
    match result {
        Ok(values) if values.len() == 1 && values[0].labels.is_empty() => values[0].value,
        other => panic!("expected one unlabelled value, got {other:?}"),
    }
}

fn labelled(result: &Result<Vec<SeriesValue>, SourceError>) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out: Vec<_> = match result {
        Ok(values) => values
            .iter()
            .map(|v| (v.labels.clone().into_iter().collect(), v.value))
            .collect(),
        Err(error) => panic!("expected values, got {error:?}"),
    };
    out.sort_by(|a: &(Vec<_>, f64), b| a.0.cmp(&b.0));
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
