//! The evaluation sweep, measured end to end through the real engine: N rules
//! over S series on a fresh SQLite product database, against a private
//! InfluxDB 1.x (`batched`: the engine's `InfluxSource` as configured by
//! default), the naive one request per rule query (`per-rule`: the query
//! phase alone, no engine), or the built-in store (`builtin`).
//!
//! ```text
//! cargo run --release -p alert-worker --example sweep -- [--rules 100000] [--series 10000] \
//!     [--mode batched|per-rule|builtin] [--subset N] [--batch-rules 20000]
//! ```
//!
//! `influxd` (1.x) must be on `PATH`, or named by `INFLUXD`: the example starts
//! its own on free loopback ports, in a temporary directory that is removed
//! when the example exits. It prints figures and records nothing.

mod timed_source;
mod usage;

use std::{
    collections::BTreeMap,
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use alert_worker::{
    LoadedRule, MetricSource,
    testing::{
        BuiltinSource, Engine, EngineSettings, InfluxConfig, InfluxSource, RuleScope, SeriesQuery,
        SweepReport, influxd, insert_user, queries_for,
    },
};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use clap::{Parser, ValueEnum};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};
use serde_json::json;
use shared_models::{
    entity::{alert_rule, point},
    ids::{RuleId, UserId},
    rule::{RuleInput, RuleLimits, RuleSpec},
    series::series_key,
    shard::Shard,
    time::{ManualClock, Timestamp},
};
use tokio::task::JoinSet;

use timed_source::{Timed, distinct};
use usage::{load_average, measure};

/// The interval of every rule; the steady sweep runs one interval after the first.
const INTERVAL_MS: i64 = 10_000;
/// When each series has a point, in seconds before the first sweep.
const OFFSETS_S: [i64; 5] = [-250, -120, -45, -20, -3];
/// Requests in flight in `per-rule` mode, as many as the batched source allows.
const PER_RULE_IN_FLIGHT: usize = 8;

#[derive(Debug, Parser)]
#[command(about = "Times one evaluation sweep of many rules, end to end")]
struct Args {
    /// Rules to generate.
    #[arg(long, default_value_t = 100_000)]
    rules: usize,
    /// Series the rules watch (rule i watches symbol S{i % series}).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    #[arg(long, value_enum, default_value_t = Mode::Batched)]
    mode: Mode,
    /// Evaluate only the first N rules and extrapolate to all by query count.
    /// Default: 200 for builtin (whose full sweep takes hours), every rule
    /// otherwise.
    #[arg(long)]
    subset: Option<usize>,
    /// The engine's rules per batch (one source call, one transaction).
    #[arg(long, default_value_t = EngineSettings::default().batch_rules)]
    batch_rules: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The engine over InfluxDB, statements merged and batched (the default source).
    Batched,
    /// One InfluxDB request per rule query, 8 in flight; the query phase alone.
    PerRule,
    /// The engine over the built-in store (the `points` table).
    Builtin,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.rules == 0 || args.series == 0 {
        bail!("--rules and --series must be at least 1");
    }
    let subset = args
        .subset
        .unwrap_or(match args.mode {
            Mode::Builtin => 200,
            Mode::Batched | Mode::PerRule => args.rules,
        })
        .clamp(1, args.rules);
    let first_tick = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .context("a valid instant")?
        .timestamp_millis();
    println!(
        "mode {:?}: {} rules over {} series{}, batch {} rules, machine: {} cores, {}",
        args.mode,
        args.rules,
        args.series,
        if subset < args.rules {
            format!(", only the first {subset} evaluated")
        } else {
            String::new()
        },
        args.batch_rules,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );

    let dir = tempfile::Builder::new().prefix("sweep-").tempdir()?;
    let db = connect(&dir).await?;
    let owner = insert_user(&db, "bench@example.com").await?;
    let rules: Vec<LoadedRule> = (0..args.rules)
        .map(|i| generate(i, args.series, owner, first_tick))
        .collect::<Result<_>>()?;
    let started = Instant::now();
    insert_rules(&db, &rules[..subset]).await?;
    println!("setup: {subset} rules stored in {:?}", started.elapsed());

    let started = Instant::now();
    let source: Arc<dyn MetricSource> = if args.mode == Mode::Builtin {
        insert_points(&db, owner, args.series, first_tick).await?;
        Arc::new(BuiltinSource::new(db.clone(), "monitors".to_owned()))
    } else {
        let database = write_influx(args.series, first_tick).await?;
        if args.mode == Mode::PerRule {
            println!("setup: points written in {:?}", started.elapsed());
            return per_rule(&rules, subset, &database, first_tick).await;
        }
        Arc::new(InfluxSource::new(influx_config(&database))?)
    };
    println!(
        "setup: {} series x {} points written in {:?}",
        args.series,
        OFFSETS_S.len(),
        started.elapsed()
    );

    let timed = Arc::new(Timed::new(source));
    let mut engine = Engine::new(
        db.clone(),
        Arc::clone(&timed) as Arc<dyn MetricSource>,
        Arc::new(ManualClock::new(instant(first_tick)?)),
        RuleScope::All,
        EngineSettings {
            batch_rules: args.batch_rules,
            ..EngineSettings::default()
        },
    );
    let (refreshed, load) = measure(engine.refresh()).await;
    let refreshed = refreshed?;
    println!("rule load: {} rules, {load}", refreshed.total);

    let mut sweeps = Vec::new();
    for (name, now) in [
        ("first sweep", first_tick),
        ("steady sweep", first_tick + INTERVAL_MS),
    ] {
        let (report, cost) = measure(engine.evaluate_due(Timestamp::from_millis(now))).await;
        let report = report?;
        let stats = timed.take();
        println!("{name}: {}, {cost}", Sweep(&report));
        println!(
            "  source: {} calls, {} queries ({} distinct in their calls), {:.3?} waiting on it; \
             engine and SQLite: {:.3?} (this benchmark's counting: {:.3?})",
            stats.calls,
            stats.queries,
            stats.distinct,
            stats.wall,
            cost.wall.saturating_sub(stats.wall + stats.counting),
            stats.counting,
        );
        if report.rules != subset || report.errors > 0 {
            bail!("{name}: expected {subset} rules evaluated without errors, got {report:?}");
        }
        sweeps.push(cost);
    }
    if subset < args.rules && args.mode == Mode::Builtin {
        // The built-in store asks each distinct query on its own, each
        // reading the window's points of the measurement: its cost grows
        // with distinct queries.
        let all: Vec<SeriesQuery> = rules.iter().flat_map(queries_for).collect();
        let evaluated: Vec<SeriesQuery> = rules[..subset].iter().flat_map(queries_for).collect();
        let (all, evaluated) = (distinct(all.iter()), distinct(evaluated.iter()));
        let scale = all as f64 / evaluated as f64;
        for (cost, name) in sweeps.iter().zip(["first", "steady"]) {
            println!(
                "extrapolated {name} sweep of all {} rules ({all} distinct queries, {scale:.1}x): \
                 about {:.1?} (linear in distinct queries)",
                args.rules,
                cost.wall.mul_f64(scale)
            );
        }
    }
    Ok(())
}

/// The naive approach: every rule query its own InfluxDB request (one
/// statement), 8 in flight. Times the query phase only: no engine, no state,
/// no persistence.
async fn per_rule(
    rules: &[LoadedRule],
    subset: usize,
    database: &str,
    first_tick: i64,
) -> Result<()> {
    let source = Arc::new(InfluxSource::new(InfluxConfig {
        max_statements_per_request: 1,
        ..influx_config(database)
    })?);
    let at = instant(first_tick)?;
    let queries: Vec<SeriesQuery> = rules[..subset].iter().flat_map(queries_for).collect();
    let total_queries: usize = rules.iter().map(|r| queries_for(r).len()).sum();
    let sent = queries.len();

    let (counted, cost) = measure(async {
        let mut pending = queries.into_iter();
        let mut requests = JoinSet::new();
        let (mut values, mut errors) = (0, 0);
        loop {
            while requests.len() < PER_RULE_IN_FLIGHT {
                let Some(query) = pending.next() else { break };
                let source = Arc::clone(&source);
                requests.spawn(async move { source.query(&[query], at).await });
            }
            let Some(done) = requests.join_next().await else {
                break;
            };
            for answer in done.context("a request task")? {
                match answer {
                    Ok(found) => values += found.len(),
                    Err(_) => errors += 1,
                }
            }
        }
        Ok::<_, anyhow::Error>((values, errors))
    })
    .await;
    let (values, errors) = counted?;
    println!(
        "query phase only (no engine): {} rules, {sent} requests of one statement, \
         {PER_RULE_IN_FLIGHT} in flight: {values} values, {errors} errors, {cost}, {:.0} requests/s",
        subset,
        sent as f64 / cost.wall.as_secs_f64(),
    );
    if errors > 0 {
        bail!("{errors} queries failed");
    }
    if sent < total_queries {
        let scale = total_queries as f64 / sent as f64;
        println!(
            "extrapolated to all {} rules ({total_queries} requests, {scale:.1}x): about {:.1?} \
             wall, {:.1?} of this process's CPU",
            rules.len(),
            cost.wall.mul_f64(scale),
            cost.cpu.mul_f64(scale),
        );
    }
    Ok(())
}

/// The settings the worker uses by default (`MONITORS_INFLUX_*`).
fn influx_config(database: &str) -> InfluxConfig {
    InfluxConfig {
        url: influxd::influxd().url().to_owned(),
        default_database: database.to_owned(),
        token: None,
        username: None,
        password: None,
        timeout: Duration::from_secs(10),
        max_concurrency: 8,
        max_statements_per_request: 100,
    }
}

/// The product database, opened as every process opens it.
async fn connect(dir: &tempfile::TempDir) -> Result<DatabaseConnection> {
    let url = format!("sqlite://{}/monitors.db?mode=rwc", dir.path().display());
    let db = shared_models::db::connect(&url, 8).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// What series `s` holds at its `k`-th point: a base that differs between
/// series, rising 0.2 % a point.
fn value(series: usize, k: usize) -> f64 {
    (100 + series % 997) as f64 * (1.0 + 0.002 * k as f64)
}

/// Rule `i`: a realistic mix, about 1 % of it firing. Mostly the last price
/// over 1 m; some mean, max or min over 5 m; some percent change over 5 m.
/// Thresholds sit 10 % beyond (or, for the firing ones, within) the value
/// the rule sees, with `>` and `<` alike.
fn generate(i: usize, series: usize, owner: UserId, first_tick: i64) -> Result<LoadedRule> {
    let s = i % series;
    let hash = splitmix(i as u64);
    let fires = (hash >> 32).is_multiple_of(100);
    let above = (hash >> 16).is_multiple_of(2);
    let last = value(s, OFFSETS_S.len() - 1);
    let (label, aggregation, window, seen) = match hash % 100 {
        0..60 => ("last", "last", "1m", last),
        60..70 => ("mean", "mean", "5m", (value(s, 0) + last) / 2.0),
        70..78 => ("max", "max", "5m", last),
        78..85 => ("min", "min", "5m", value(s, 0)),
        _ => ("change", "last", "5m", (last / value(s, 0) - 1.0) * 100.0),
    };
    // Fires when the threshold is on the near side of what the rule sees.
    let (op, factor) = match (above, fires) {
        (true, true) => (">", 0.9),
        (true, false) => (">", 1.1),
        (false, true) => ("<", 1.1),
        (false, false) => ("<", 0.9),
    };
    let condition = if label == "change" {
        // The change is +0.8 %: "more than +0.4 %" fires, "+/-5 %" does not.
        let threshold = match (above, fires) {
            (true, true) => 0.4,
            (true, false) => 5.0,
            (false, true) => 1.5,
            (false, false) => -5.0,
        };
        json!({"kind": "percent_change", "op": op, "threshold": threshold})
    } else {
        json!({"op": op, "threshold": (seen * factor * 100.0).round() / 100.0})
    };
    let input: RuleInput = serde_json::from_value(json!({
        "name": format!("S{s} {label} #{i}"),
        "metric": {
            "measurement": "crypto",
            "field": "price",
            "tags": {"symbol": format!("S{s}")},
            "aggregation": aggregation,
            "window": window,
        },
        "condition": condition,
        "interval": "10s",
    }))?;
    Ok(LoadedRule {
        id: RuleId::generate(),
        owner,
        version: 1,
        shard: Shard::FIRST,
        spec: RuleSpec::parse(input, &RuleLimits::default())?,
        next_due: Timestamp::from_millis(first_tick),
    })
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn insert_rules(db: &DatabaseConnection, rules: &[LoadedRule]) -> Result<()> {
    let txn = db.begin().await?;
    for chunk in rules.chunks(500) {
        let rows = chunk
            .iter()
            .map(|rule| {
                Ok(alert_rule::ActiveModel {
                    id: Set(rule.id),
                    owner_id: Set(rule.owner),
                    name: Set(rule.spec.name.as_str().to_owned()),
                    enabled: Set(true),
                    severity: Set(rule.spec.severity),
                    interval_ms: Set(INTERVAL_MS),
                    shard: Set(Shard::of(&rule.id, 256)),
                    spec: Set(rule.spec.clone()),
                    version: Set(rule.version),
                    created_at: Set(Timestamp::EPOCH),
                    updated_at: Set(Timestamp::EPOCH),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        alert_rule::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

async fn insert_points(
    db: &DatabaseConnection,
    owner: UserId,
    series: usize,
    first_tick: i64,
) -> Result<()> {
    let txn = db.begin().await?;
    let all: Vec<usize> = (0..series).collect();
    for chunk in all.chunks(200) {
        let mut rows = Vec::with_capacity(chunk.len() * OFFSETS_S.len());
        for &s in chunk {
            let tags = BTreeMap::from([("symbol".to_owned(), format!("S{s}"))]);
            let (key, text) = (series_key(&tags), serde_json::to_string(&tags)?);
            for (k, offset) in OFFSETS_S.iter().enumerate() {
                rows.push(point::ActiveModel {
                    owner_id: Set(owner.to_string()),
                    db: Set("monitors".to_owned()),
                    measurement: Set("crypto".to_owned()),
                    field: Set("price".to_owned()),
                    series_key: Set(key.clone()),
                    tags: Set(text.clone()),
                    time: Set(first_tick + offset * 1000),
                    value: Set(value(s, k)),
                    ..Default::default()
                });
            }
        }
        point::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Writes the series to a fresh database of a private `influxd`, about 5,000
/// lines a request, and returns the database's name.
async fn write_influx(series: usize, first_tick: i64) -> Result<String> {
    // Starting influxd polls and sleeps: keep it off the runtime's threads.
    tokio::task::spawn_blocking(|| {
        influxd::influxd();
    })
    .await?;
    let influxd = influxd::influxd();
    let database = influxd.create_database().await;
    let all: Vec<usize> = (0..series).collect();
    for chunk in all.chunks(1_000) {
        let lines: Vec<String> = chunk
            .iter()
            .flat_map(|&s| {
                OFFSETS_S.iter().enumerate().map(move |(k, offset)| {
                    format!(
                        "crypto,symbol=S{s} price={} {}",
                        value(s, k),
                        first_tick + offset * 1000
                    )
                })
            })
            .collect();
        influxd.write(&database, &lines.join("\n")).await;
    }
    Ok(database)
}

fn instant(ms: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .context("a valid instant")
}

struct Sweep<'a>(&'a SweepReport);

impl fmt::Display for Sweep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "{} rules, {} queries, {} series, {} fired, {} resolved, {} states written, {} errors",
            r.rules,
            r.queries,
            r.series,
            r.persisted.fired,
            r.persisted.resolved,
            r.persisted.states_written,
            r.errors
        )
    }
}
