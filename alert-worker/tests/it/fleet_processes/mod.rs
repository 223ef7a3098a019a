//! The fleet's fault tests: real `alert-worker run` processes on a real
//! MariaDB database, 2,000 one-second rules on the built-in store spread
//! over 256 shards, and a webhook receiver standing in for the customer.
//! Workers are killed, stopped past their leases and joined by another;
//! every wait is a condition with a deadline taken from what the fleet
//! promises (lease TTL, renewal period, rule interval), never a fixed sleep.
//!
//! The scenarios run one at a time: on a two-core machine, fleets running
//! side by side would measure each other rather than the fleet.

mod outages;
mod seed;
mod workers;
mod world;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::support::{
    one_at_a_time,
    processes::{FleetEnv, Processes},
};
use alert_worker::testing::mariadbd::Mariadbd;
use alert_worker::testing::redis_server::Redis;
use alert_worker::testing::within;
use alert_worker::testing::{
    Backend, EngineSettings, FleetSettings, TestDb, insert_user, receiver::Receiver,
};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QuerySelect, Set, Statement,
};
use serde_json::json;
use shared_models::{
    changes::ChangePublisher,
    channel::{ChannelConfig, ChannelKind, signing::generate_signing_secret},
    crypto::Keyring,
    entity::{
        alert, alert_rule, notification, notification_channel, point, rule_status, shard_lease,
        worker,
    },
    ids::{ChannelId, RuleId},
    rule::{HumanDuration, RuleInput, RuleLimits, RuleSpec},
    series::series_key,
    shard::Shard,
    time::Timestamp,
};
use tokio::sync::MutexGuard;

const RULES: usize = 2_000;
/// Rules whose series is above the threshold from the start.
const HOT: usize = 40;
/// Rules whose series crosses the threshold when a scenario says so.
const LATE: usize = 40;
/// The calm rules watch this many series, so that an evaluation asks the
/// store several queries, not one.
const CALM_SERIES: usize = 20;
const SHARDS: u32 = 256;
const TTL: Duration = Duration::from_secs(3);
const INTERVAL: Duration = Duration::from_secs(1);
const INTERVAL_MS: i64 = 1_000;
/// Room for a batch of evaluations to run and commit, and for the test to
/// see it.
const SLACK: Duration = Duration::from_millis(1_000);
const EVALUATIONS: &str = "monitors_worker_evaluations_total";
const ABOVE: f64 = 90_000.0;
const BELOW: f64 = 100.0;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A span of epoch milliseconds as a duration; none if negative.
fn millis(span: i64) -> Duration {
    Duration::from_millis(u64::try_from(span).unwrap_or(0))
}

/// How often a worker renews its leases and revisits the split.
fn renewal() -> Duration {
    FleetSettings {
        shard_count: SHARDS,
        lease_ttl: TTL,
        host: String::new(),
    }
    .renew_every()
}

/// No worker may hold more than this many shards once the split is stable.
fn fair_cap(workers: usize) -> usize {
    (SHARDS as usize).div_ceil(workers) + 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Calm,
    Hot,
    Late,
}

impl Group {
    /// The symbols of the group's series.
    fn symbols(self) -> Vec<String> {
        match self {
            Self::Calm => (0..CALM_SERIES).map(|n| format!("CALM-{n}")).collect(),
            Self::Hot => vec!["HOT".to_owned()],
            Self::Late => vec!["LATE".to_owned()],
        }
    }
}

/// Where a worker is stopped.
#[derive(Debug, Clone, Copy)]
enum Stall {
    /// Reading points for an evaluation, before its write transaction.
    MidEvaluation,
    /// Inside its batch's write transaction, which holds its lease rows.
    InsideItsWrite,
}

/// Each rule's evaluations as the test has seen them: the largest step
/// between two successive evaluations of one rule, and any step back in
/// time, which only a write under a lapsed lease could make.
#[derive(Default)]
struct Watch {
    last: HashMap<String, i64>,
    /// Each rule's largest step since the watch was last cleared.
    gaps: HashMap<String, i64>,
    regressions: Vec<(String, i64, i64)>,
    fetched_at: Option<Instant>,
}

impl Watch {
    fn record(&mut self, seen: HashMap<String, i64>) {
        for (rule, at) in seen {
            match self.last.insert(rule.clone(), at) {
                Some(before) if at < before => self.regressions.push((rule, before, at)),
                Some(before) if at > before => {
                    let gap = self.gaps.entry(rule).or_default();
                    *gap = (*gap).max(at - before);
                }
                _ => {}
            }
        }
    }
}

/// A fresh database with the rules, their points and a webhook channel;
/// the worker processes; and what the test has seen them do.
struct World {
    // Declared first, dropped first: the workers are gone before their
    // database is.
    processes: Processes,
    db: DatabaseConnection,
    url: String,
    owner: String,
    /// Rule id → (shard, group).
    rules: BTreeMap<String, (Shard, Group)>,
    channel: ChannelId,
    receiver: Receiver,
    watch: Mutex<Watch>,
    server: Server,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Where the database lives: a fresh database on the machine's MariaDB, or
/// a server of the test's own, which it may pause and crash.
enum Server {
    /// Kept for its drop, which drops the database.
    Shared {
        _db: TestDb,
    },
    Private(Mariadbd),
}

impl Server {
    /// The server and the URL of a fresh database on it.
    async fn shared() -> (Self, String) {
        let (test_db, url) = TestDb::create(Backend::MariaDb).await;
        (Self::Shared { _db: test_db }, url)
    }

    async fn private() -> (Self, String) {
        let server = tokio::task::spawn_blocking(Mariadbd::start).await.unwrap();
        let admin = Database::connect(server.url()).await.unwrap();
        admin
            .execute_unprepared("CREATE DATABASE monitors")
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = format!("{}/monitors", server.url());
        (Self::Private(server), url)
    }

    fn private_server(&mut self) -> &mut Mariadbd {
        match self {
            Self::Private(server) => server,
            Self::Shared { .. } => panic!("the shared server is not the test's to stop"),
        }
    }
}

const THREE: [&str; 3] = ["w1", "w2", "w3"];
