//! The built-in metrics source against real databases: a temporary SQLite
//! file and a fresh MariaDB database per test, migrated, with points
//! inserted the way the gateway stores them.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use crate::{
    source::{
        CatalogRequest, MeasurementInfo, MetricSource, Reduce, SeriesQuery, SeriesValue,
        builtin::BuiltinSource,
    },
    testing::{Backend, TestDb},
};
use chrono::{DateTime, TimeZone, Utc};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, Set};
use shared_models::{entity::point, ids::UserId, rule::Aggregation, series::series_key};

crate::on_both_backends!(
    every_reduction_over_the_window,
    the_window_is_open_at_its_start_and_closed_at_its_end,
    the_latest_write_wins_at_one_instant,
    tag_filters_and_group_by,
    names_are_exact_and_databases_separate,
    owners_never_see_each_others_points,
    identical_queries_in_a_batch_share_one_answer,
    the_catalog_lists_what_the_owner_wrote,
);

/// The database a query without one reads, as configured by default.
const DEFAULT_DATABASE: &str = "monitors";

/// A migrated database that exists for one test.
struct Fixture {
    db: DatabaseConnection,
    _db: TestDb,
}

impl Fixture {
    async fn create(backend: Backend) -> Self {
        let (test_db, url) = TestDb::create(backend).await;
        let db = Database::connect(url).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        Self { db, _db: test_db }
    }

    fn source(&self) -> BuiltinSource {
        BuiltinSource::new(self.db.clone(), DEFAULT_DATABASE.to_owned())
    }

    async fn insert(&self, p: P<'_>) {
        let tags: BTreeMap<String, String> = p
            .tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        point::ActiveModel {
            owner_id: Set(p.owner.to_string()),
            db: Set(p.db.to_owned()),
            measurement: Set(p.measurement.to_owned()),
            field: Set(p.field.to_owned()),
            series_key: Set(series_key(&tags)),
            tags: Set(serde_json::to_string(&tags).unwrap()),
            time: Set(p.time),
            value: Set(p.value),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .unwrap();
    }
}

/// A point to insert; `P::new` fills the common case.
#[derive(Clone, Copy)]
struct P<'a> {
    owner: UserId,
    db: &'a str,
    measurement: &'a str,
    field: &'a str,
    tags: &'a [(&'a str, &'a str)],
    time: i64,
    value: f64,
}

impl<'a> P<'a> {
    /// `cpu.usage` in the default database, `seconds_before` the evaluation instant.
    fn new(owner: UserId, tags: &'a [(&'a str, &'a str)], seconds_before: i64, value: f64) -> Self {
        Self {
            owner,
            db: DEFAULT_DATABASE,
            measurement: "cpu",
            field: "usage",
            tags,
            time: at().timestamp_millis() - seconds_before * 1_000,
            value,
        }
    }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn query(owner: UserId, reduce: Reduce, window_secs: u64) -> SeriesQuery {
    SeriesQuery {
        owner,
        database: None,
        measurement: "cpu".to_owned(),
        field: "usage".to_owned(),
        tags: BTreeMap::new(),
        reduce,
        window: Duration::from_secs(window_secs),
        group_by: Vec::new(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn value(labels_: &[(&str, &str)], value: f64) -> SeriesValue {
    SeriesValue {
        labels: labels(labels_),
        value,
    }
}

async fn answer(source: &BuiltinSource, query: SeriesQuery) -> Vec<SeriesValue> {
    let mut answers = source.query(&[query], at()).await;
    assert_eq!(answers.len(), 1);
    answers.remove(0).unwrap()
}

const LAST: Reduce = Reduce::Rule(Aggregation::Last);

async fn every_reduction_over_the_window(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    // Inserted out of time order, so that "last" cannot mean "last inserted".
    for (seconds_before, v) in [(30, 4.0), (50, 2.0), (10, 8.0), (40, 6.0), (20, 0.5)] {
        test.insert(P::new(owner, &[("host", "a")], seconds_before, v))
            .await;
    }
    // Outside a one-minute window: before it and after the instant.
    test.insert(P::new(owner, &[("host", "a")], 120, 100.0))
        .await;
    test.insert(P::new(owner, &[("host", "a")], -5, -100.0))
        .await;

    let source = test.source();
    for (reduce, expected) in [
        (LAST, 8.0),
        (Reduce::First, 2.0),
        (Reduce::Rule(Aggregation::Mean), 4.1),
        (Reduce::Rule(Aggregation::Min), 0.5),
        (Reduce::Rule(Aggregation::Max), 8.0),
        (Reduce::Rule(Aggregation::Sum), 20.5),
        (Reduce::Rule(Aggregation::Count), 5.0),
    ] {
        let got = answer(&source, query(owner, reduce, 60)).await;
        assert_eq!(got.len(), 1, "{reduce:?}");
        assert!(
            (got[0].value - expected).abs() < 1e-9,
            "{reduce:?}: {} != {expected}",
            got[0].value
        );
        assert!(got[0].labels.is_empty(), "no group_by, no labels");
    }
    // A wider window reaches the older point.
    assert_eq!(
        answer(&source, query(owner, Reduce::First, 180)).await,
        vec![value(&[], 100.0)]
    );
    // No points in the window: no series at all.
    let mut later = query(owner, LAST, 60);
    later.measurement = "nothing".to_owned();
    assert!(answer(&source, later).await.is_empty());
}

async fn the_window_is_open_at_its_start_and_closed_at_its_end(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    test.insert(P::new(owner, &[], 60, 1.0)).await;
    test.insert(P::new(owner, &[], 0, 2.0)).await;
    let source = test.source();
    let count = Reduce::Rule(Aggregation::Count);
    assert_eq!(
        answer(&source, query(owner, count, 60)).await,
        vec![value(&[], 1.0)]
    );
    assert_eq!(
        answer(&source, query(owner, Reduce::First, 60)).await,
        vec![value(&[], 2.0)]
    );
    assert_eq!(
        answer(&source, query(owner, count, 61)).await,
        vec![value(&[], 2.0)]
    );
}

async fn the_latest_write_wins_at_one_instant(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    test.insert(P::new(owner, &[], 30, 1.0)).await;
    test.insert(P::new(owner, &[], 30, 2.0)).await;
    test.insert(P::new(owner, &[], 10, 3.0)).await;
    test.insert(P::new(owner, &[], 10, 4.0)).await;
    let source = test.source();
    assert_eq!(
        answer(&source, query(owner, LAST, 60)).await,
        vec![value(&[], 4.0)]
    );
    assert_eq!(
        answer(&source, query(owner, Reduce::First, 60)).await,
        vec![value(&[], 2.0)]
    );
}

async fn tag_filters_and_group_by(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    let series: [(&[(&str, &str)], f64); 4] = [
        (&[("host", "a"), ("region", "eu")], 1.0),
        (&[("host", "b"), ("region", "eu")], 2.0),
        (&[("host", "c"), ("region", "us")], 4.0),
        (&[("host", "d")], 8.0),
    ];
    for (tags, v) in series {
        test.insert(P::new(owner, tags, 20, v)).await;
        test.insert(P::new(owner, tags, 10, v * 10.0)).await;
    }
    let source = test.source();
    let sum = Reduce::Rule(Aggregation::Sum);

    // Everything, in one group.
    assert_eq!(
        answer(&source, query(owner, sum, 60)).await,
        vec![value(&[], 165.0)]
    );

    // A filter combines the matching series.
    let mut eu = query(owner, sum, 60);
    eu.tags = labels(&[("region", "eu")]);
    assert_eq!(answer(&source, eu.clone()).await, vec![value(&[], 33.0)]);

    // group_by splits them; "last" takes each group's latest point.
    let mut by_host = eu.clone();
    by_host.group_by = vec!["host".to_owned()];
    by_host.reduce = LAST;
    assert_eq!(
        answer(&source, by_host).await,
        vec![value(&[("host", "a")], 10.0), value(&[("host", "b")], 20.0)]
    );

    // A series without the grouping tag falls in the "" group.
    let mut by_region = query(owner, Reduce::Rule(Aggregation::Count), 60);
    by_region.group_by = vec!["region".to_owned()];
    assert_eq!(
        answer(&source, by_region).await,
        vec![
            value(&[("region", "")], 2.0),
            value(&[("region", "eu")], 4.0),
            value(&[("region", "us")], 2.0),
        ]
    );

    // Filtering on "" selects the series without the tag; an unknown value
    // selects nothing; several tags must all match.
    let mut untagged = query(owner, sum, 60);
    untagged.tags = labels(&[("region", "")]);
    assert_eq!(answer(&source, untagged).await, vec![value(&[], 88.0)]);
    let mut unknown = query(owner, sum, 60);
    unknown.tags = labels(&[("region", "mars")]);
    assert!(answer(&source, unknown).await.is_empty());
    let mut both = query(owner, sum, 60);
    both.tags = labels(&[("region", "eu"), ("host", "b")]);
    assert_eq!(answer(&source, both).await, vec![value(&[], 22.0)]);
}

async fn names_are_exact_and_databases_separate(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    let base = P::new(owner, &[("host", "a")], 10, 1.0);
    test.insert(base).await;
    test.insert(P {
        measurement: "CPU",
        value: 2.0,
        ..base
    })
    .await;
    test.insert(P {
        field: "Usage",
        value: 3.0,
        ..base
    })
    .await;
    test.insert(P {
        tags: &[("host", "A")],
        value: 4.0,
        ..base
    })
    .await;
    test.insert(P {
        db: "telegraf",
        value: 5.0,
        ..base
    })
    .await;
    let source = test.source();

    let mut host_a = query(owner, Reduce::Rule(Aggregation::Sum), 60);
    host_a.tags = labels(&[("host", "a")]);
    assert_eq!(answer(&source, host_a.clone()).await, vec![value(&[], 1.0)]);
    let mut upper = host_a.clone();
    upper.measurement = "CPU".to_owned();
    assert_eq!(answer(&source, upper).await, vec![value(&[], 2.0)]);
    let mut by_host = query(owner, Reduce::Rule(Aggregation::Sum), 60);
    by_host.group_by = vec!["host".to_owned()];
    assert_eq!(
        answer(&source, by_host).await,
        vec![value(&[("host", "A")], 4.0), value(&[("host", "a")], 1.0)]
    );
    let mut telegraf = host_a.clone();
    telegraf.database = Some("telegraf".to_owned());
    assert_eq!(answer(&source, telegraf).await, vec![value(&[], 5.0)]);

    // Another default database is another set of points.
    let other = BuiltinSource::new(test.db.clone(), "telegraf".to_owned());
    assert_eq!(answer(&other, host_a).await, vec![value(&[], 5.0)]);
}

async fn owners_never_see_each_others_points(backend: Backend) {
    let test = Fixture::create(backend).await;
    let alice = UserId::generate();
    let bob = UserId::generate();
    test.insert(P::new(alice, &[("host", "a")], 10, 1.0)).await;
    test.insert(P::new(bob, &[("host", "a")], 10, 2.0)).await;
    test.insert(P::new(bob, &[("host", "b")], 10, 3.0)).await;
    let source = test.source();
    let sum = Reduce::Rule(Aggregation::Sum);
    assert_eq!(
        answer(&source, query(alice, sum, 60)).await,
        vec![value(&[], 1.0)]
    );
    assert_eq!(
        answer(&source, query(bob, sum, 60)).await,
        vec![value(&[], 5.0)]
    );
    let carol = UserId::generate();
    assert!(answer(&source, query(carol, sum, 60)).await.is_empty());
    let catalog = source.catalog(&catalog_request(carol, None)).await.unwrap();
    assert!(catalog.measurements.is_empty());
    let alice_catalog = source.catalog(&catalog_request(alice, None)).await.unwrap();
    assert_eq!(
        alice_catalog.measurements[0].tags["host"],
        vec!["a".to_owned()],
        "bob's host b is not listed"
    );
}

async fn identical_queries_in_a_batch_share_one_answer(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    test.insert(P::new(owner, &[], 10, 1.0)).await;
    test.insert(P::new(owner, &[], 20, 2.0)).await;
    let source = test.source();
    let last = query(owner, LAST, 60);
    let max = query(owner, Reduce::Rule(Aggregation::Max), 60);
    let mut missing = query(owner, LAST, 60);
    missing.field = "none".to_owned();
    let batch = [last.clone(), max.clone(), last.clone(), missing, last, max];
    let answers: Vec<Vec<SeriesValue>> = source
        .query(&batch, at())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let one = vec![value(&[], 1.0)];
    let two = vec![value(&[], 2.0)];
    assert_eq!(
        answers,
        vec![one.clone(), two.clone(), one.clone(), Vec::new(), one, two]
    );
    assert!(source.query(&[], at()).await.is_empty());
}

fn catalog_request(owner: UserId, prefix: Option<&str>) -> CatalogRequest {
    CatalogRequest {
        owner,
        database: None,
        prefix: prefix.map(str::to_owned),
        measurements_limit: 10,
        values_limit: 10,
        describe: true,
    }
}

async fn the_catalog_lists_what_the_owner_wrote(backend: Backend) {
    let test = Fixture::create(backend).await;
    let owner = UserId::generate();
    let cpu = |field, tags, value| P {
        field,
        ..P::new(owner, tags, 10, value)
    };
    test.insert(cpu("usage", &[("host", "b"), ("region", "eu")], 1.0))
        .await;
    test.insert(cpu("usage", &[("host", "a")], 1.0)).await;
    test.insert(cpu("idle", &[("host", "a")], 1.0)).await;
    for measurement in ["disk_io", "diskXio", "mem"] {
        test.insert(P {
            measurement,
            ..P::new(owner, &[], 10, 1.0)
        })
        .await;
    }
    for i in 0..12 {
        let host = format!("h{i:02}");
        let tags = [("host", host.as_str())];
        test.insert(P {
            measurement: "many",
            ..P::new(owner, &tags, 10, 1.0)
        })
        .await;
    }
    test.insert(P {
        db: "elsewhere",
        measurement: "hidden",
        ..P::new(owner, &[], 10, 1.0)
    })
    .await;
    let source = test.source();

    let catalog = source.catalog(&catalog_request(owner, None)).await.unwrap();
    let names: Vec<&str> = catalog
        .measurements
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["cpu", "diskXio", "disk_io", "many", "mem"]);
    assert_eq!(
        catalog.measurements[0],
        MeasurementInfo {
            name: "cpu".to_owned(),
            fields: vec!["idle".to_owned(), "usage".to_owned()],
            tags: BTreeMap::from([
                ("host".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
                ("region".to_owned(), vec!["eu".to_owned()]),
            ]),
            more_tag_values: BTreeSet::new(),
        }
    );
    let many = &catalog.measurements[3];
    let hosts: Vec<String> = (0..10).map(|i| format!("h{i:02}")).collect();
    assert_eq!(many.tags["host"], hosts, "values are limited");
    assert_eq!(
        many.more_tag_values,
        BTreeSet::from(["host".to_owned()]),
        "and say so"
    );
    assert!(!catalog.more_measurements);

    // The prefix is literal: `_` matches only itself.
    let disk = source
        .catalog(&catalog_request(owner, Some("disk_")))
        .await
        .unwrap();
    let names: Vec<&str> = disk.measurements.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["disk_io"]);

    let limited = source
        .catalog(&CatalogRequest {
            measurements_limit: 2,
            ..catalog_request(owner, None)
        })
        .await
        .unwrap();
    assert_eq!(limited.measurements.len(), 2);
    assert!(limited.more_measurements, "and say so");

    let elsewhere = source
        .catalog(&CatalogRequest {
            database: Some("elsewhere".to_owned()),
            ..catalog_request(owner, None)
        })
        .await
        .unwrap();
    let names: Vec<&str> = elsewhere
        .measurements
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["hidden"]);
}
