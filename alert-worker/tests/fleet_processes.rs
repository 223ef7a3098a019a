//! The fleet's fault tests: real `alert-worker run` processes on a real
//! MariaDB database, 2,000 one-second rules on the built-in store spread
//! over 256 shards, and a webhook receiver standing in for the customer.
//! Workers are killed, stopped past their leases and joined by another;
//! every wait is a condition with a deadline taken from what the fleet
//! promises (lease TTL, renewal period, rule interval), never a fixed sleep.
//!
//! The scenarios run one at a time: on a two-core machine, fleets running
//! side by side would measure each other rather than the fleet.

#[path = "support/mariadbd.rs"]
mod mariadbd;
#[path = "support/processes.rs"]
mod processes;
#[path = "support/redis.rs"]
mod redis_server;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use alert_worker::testing::within;
use alert_worker::{
    changes::ChangePublisher,
    engine::EngineSettings,
    fleet::{self, FleetSettings},
    notify::signing::generate_signing_secret,
    testing::{Backend, TestDb, insert_user, receiver::Receiver},
};
use mariadbd::Mariadbd;
use migrations::{Migrator, MigratorTrait};
use processes::{FleetEnv, Processes};
use redis_server::Redis;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QuerySelect, Set, Statement,
};
use serde_json::json;
use shared_models::{
    channel::{ChannelConfig, ChannelKind},
    crypto::Keyring,
    entity::{
        alert, alert_rule, notification, notification_channel, point, rule_status, shard_lease,
        worker,
    },
    ids::{ChannelId, RuleId},
    rule::{HumanDuration, RuleInput, RuleLimits, RuleSpec},
    series::series_key,
    shard::shard_of,
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

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    rules: BTreeMap<String, (i32, Group)>,
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

impl World {
    /// Seeds a fresh database on the shared MariaDB and starts the
    /// workers `ids`.
    async fn start(ids: &[&str]) -> World {
        let serial = ONE_AT_A_TIME.lock().await;
        World::start_on(Server::shared().await, None, ids, serial).await
    }

    /// The same on a MariaDB server of the test's own.
    async fn start_private(ids: &[&str]) -> World {
        let serial = ONE_AT_A_TIME.lock().await;
        World::start_on(Server::private().await, None, ids, serial).await
    }

    /// On the shared MariaDB, with rule changes announced on `redis_url`.
    async fn start_with_redis(redis_url: String, ids: &[&str]) -> World {
        let serial = ONE_AT_A_TIME.lock().await;
        World::start_on(Server::shared().await, Some(redis_url), ids, serial).await
    }

    async fn start_on(
        (server, url): (Server, String),
        redis_url: Option<String>,
        ids: &[&str],
        serial: MutexGuard<'static, ()>,
    ) -> World {
        let db = Database::connect(&url).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let owner = insert_user(&db, "fleet@example.com")
            .await
            .unwrap()
            .to_string();
        let key = Keyring::generate_key().unwrap();
        let receiver = Receiver::start().await;
        let channel = webhook(&db, &owner, &key, &receiver.url("/hook")).await;
        let rules = seed_rules(&db, &owner, channel).await;
        for group in [Group::Calm, Group::Hot, Group::Late] {
            let value = if group == Group::Hot { ABOVE } else { BELOW };
            for symbol in group.symbols() {
                insert_point(&db, &owner, &symbol, now_ms() - 1_000, value).await;
            }
        }
        let mut processes = Processes::new(FleetEnv {
            database_url: url.clone(),
            encryption_key: key,
            lease_ttl: TTL,
            shard_count: SHARDS,
            redis_url,
        });
        for id in ids {
            processes.start(id).await;
        }
        World {
            processes,
            db,
            url,
            owner,
            rules,
            channel,
            receiver,
            watch: Mutex::default(),
            server,
            _one_at_a_time: serial,
        }
    }

    fn all_rules(&self) -> BTreeSet<String> {
        self.rules.keys().cloned().collect()
    }

    fn group(&self, group: Group) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|(_, (_, g))| *g == group)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn rules_in(&self, shards: &BTreeSet<i32>) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|(_, (shard, _))| shards.contains(shard))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Moves a group's series to `value` from now on.
    async fn set_value(&self, group: Group, value: f64) {
        for symbol in group.symbols() {
            insert_point(&self.db, &self.owner, &symbol, now_ms(), value).await;
        }
    }

    /// Shards with a current lease, by holder; and how many have none.
    async fn split(&self) -> (BTreeMap<String, usize>, u64) {
        let now = Timestamp::from_millis(now_ms());
        let held = fleet::members(&self.db, now)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.shards > 0)
            .map(|m| (m.worker_id, m.shards))
            .collect();
        (held, fleet::unowned_shards(&self.db, now).await.unwrap())
    }

    async fn leases(&self) -> Vec<shard_lease::Model> {
        shard_lease::Entity::find().all(&self.db).await.unwrap()
    }

    /// The shards whose current lease `id` holds.
    async fn shards_of(&self, id: &str) -> BTreeSet<i32> {
        let now = now_ms();
        self.leases()
            .await
            .into_iter()
            .filter(|l| l.worker_id.as_deref() == Some(id) && l.expires_at.as_millis() >= now)
            .map(|l| l.shard)
            .collect()
    }

    /// Each rule's last evaluation (its tick), by rule id.
    async fn last_evaluated(&self) -> HashMap<String, i64> {
        rule_status::Entity::find()
            .select_only()
            .columns([
                rule_status::Column::RuleId,
                rule_status::Column::LastEvaluatedAt,
            ])
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await
            .unwrap()
            .into_iter()
            .collect()
    }

    /// How many rules have been evaluated, and the earliest and latest of
    /// their last evaluations.
    async fn evaluated_span(&self) -> (i64, i64, i64) {
        use sea_orm::sea_query::{Expr, ExprTrait};
        let at = || Expr::col(rule_status::Column::LastEvaluatedAt);
        let (count, first, last) = rule_status::Entity::find()
            .select_only()
            .column_as(Expr::col(rule_status::Column::RuleId).count(), "count")
            .column_as(at().min(), "first")
            .column_as(at().max(), "last")
            .into_tuple::<(i64, Option<i64>, Option<i64>)>()
            .one(&self.db)
            .await
            .unwrap()
            .unwrap();
        (count, first.unwrap_or(0), last.unwrap_or(0))
    }

    /// Each rule's last evaluation, also fed to the watch.
    async fn observe_now(&self) -> HashMap<String, i64> {
        let seen = self.last_evaluated().await;
        let mut watch = self.watch.lock().unwrap();
        watch.fetched_at = Some(Instant::now());
        watch.record(seen.clone());
        seen
    }

    /// Feeds the watch, at most every 100 ms (a full read of the rules'
    /// status is not free on two cores). Every wait calls it, so the watch
    /// sees each one-second tick of every rule.
    async fn observe(&self) {
        let due = self
            .watch
            .lock()
            .unwrap()
            .fetched_at
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(100));
        if due {
            self.observe_now().await;
        }
    }

    /// Forgets the gaps seen so far, to measure those of what comes next.
    fn watch_from_here(&self) {
        self.watch.lock().unwrap().gaps.clear();
    }

    /// The largest step between successive evaluations of one of `rules`
    /// since [`Self::watch_from_here`], after checking that no rule's last
    /// evaluation ever went back in time.
    fn worst_gap(&self, rules: &BTreeSet<String>) -> (i64, String) {
        let watch = self.watch.lock().unwrap();
        assert!(
            watch.regressions.is_empty(),
            "last evaluations went back in time, a write under a lapsed lease \
             (rule, before, after): {:?}",
            &watch.regressions[..watch.regressions.len().min(10)]
        );
        rules
            .iter()
            .filter_map(|rule| Some((*watch.gaps.get(rule)?, rule.clone())))
            .max()
            .expect("evaluations of these rules were watched")
    }

    /// Waits until the workers `ids`, and only they, hold every shard, none
    /// more than its fair share + 1, and the split has not moved for a
    /// renewal period (the engines have read their rules by then). Returns
    /// the split.
    async fn settled(&self, ids: &[&str], limit: Duration) -> BTreeMap<String, usize> {
        let want: BTreeSet<&str> = ids.iter().copied().collect();
        let cap = fair_cap(ids.len());
        let mut stable: Option<(BTreeMap<String, usize>, Instant)> = None;
        within(
            &format!("{ids:?} settle on a fair split"),
            limit,
            async || {
                self.observe().await;
                let (split, unowned) = self.split().await;
                let fair = unowned == 0
                    && split.keys().map(String::as_str).collect::<BTreeSet<_>>() == want
                    && split.values().all(|n| *n <= cap);
                if !fair {
                    stable = None;
                    return Err(format!("{split:?}, {unowned} unowned (cap {cap})"));
                }
                match &stable {
                    Some((seen, since)) if *seen == split => {
                        if since.elapsed() >= renewal() {
                            return Ok(split);
                        }
                    }
                    _ => stable = Some((split.clone(), Instant::now())),
                }
                Err(format!("{split:?}, not yet stable for a renewal period"))
            },
        )
        .await
    }

    /// Waits until each rule of `rules` has been evaluated on a tick after
    /// `after_ms`; returns when that was seen (epoch ms).
    async fn evaluated_after(
        &self,
        what: &str,
        rules: &BTreeSet<String>,
        after_ms: i64,
        limit: Duration,
    ) -> i64 {
        within(what, limit, async || {
            let last = self.observe_now().await;
            let behind = rules
                .iter()
                .filter(|r| last.get(*r).is_none_or(|at| *at <= after_ms))
                .count();
            if behind == 0 {
                Ok(now_ms())
            } else {
                Err(format!("{behind} of {} rules not yet", rules.len()))
            }
        })
        .await
    }

    /// The next moment the fleet is between ticks: every rule's last
    /// evaluation is the same tick, at or after `from_tick`, and the next
    /// tick has not begun when the workers `ids` are scraped. Returns that
    /// tick and the evaluations they have counted.
    async fn between_ticks(&self, ids: &[&str], from_tick: i64) -> (i64, f64) {
        within(
            "the fleet is between two ticks",
            Duration::from_secs(10),
            async || {
                self.observe().await;
                let (count, first, last) = self.evaluated_span().await;
                if count != RULES as i64 || first != last || first < from_tick {
                    return Err(format!("{count} rules, last evaluated {first}..={last}"));
                }
                let evaluations = self.processes.sum(ids, EVALUATIONS).await;
                if now_ms() >= first + INTERVAL_MS {
                    return Err(format!("tick {first} ended before the scrape"));
                }
                Ok((first, evaluations))
            },
        )
        .await
    }

    /// The statements worker `id` has running in the database: the server
    /// names each session by its client's address, which the worker's
    /// sockets tell.
    async fn statements_of(&self, id: &str) -> Vec<String> {
        let ports = self.processes.worker(id).local_ports();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT HOST AS host, INFO AS info FROM information_schema.processlist \
                 WHERE DB = DATABASE() AND INFO IS NOT NULL",
            ))
            .await
            .unwrap();
        rows.into_iter()
            .filter(|row| {
                let host: String = row.try_get("", "host").unwrap();
                host.rsplit(':')
                    .next()
                    .and_then(|port| port.parse::<u16>().ok())
                    .is_some_and(|port| ports.contains(&port))
            })
            .map(|row| row.try_get("", "info").unwrap())
            .collect()
    }

    /// SIGSTOPs worker `id` exactly where `stall` says. The test holds what
    /// the worker needs there (the points table for an evaluation's reads,
    /// one of its rules' status row for its write transaction) until the
    /// worker is seen waiting for it, stops it, and lets go: the statement
    /// runs, and the worker stands still right after it. Returns when it
    /// was stopped.
    async fn stop_at(&self, id: &str, stall: Stall) -> i64 {
        // One connection, so that what it takes, it keeps until released.
        let mut options = ConnectOptions::new(self.url.clone());
        options.max_connections(1).min_connections(1);
        let holder = Database::connect(options).await.unwrap();
        let (waiting_on, release) = match stall {
            Stall::MidEvaluation => {
                holder
                    .execute_unprepared("LOCK TABLES `points` WRITE")
                    .await
                    .unwrap();
                ("FROM `points`", "UNLOCK TABLES")
            }
            Stall::InsideItsWrite => {
                let rule = self
                    .rules_in(&self.shards_of(id).await)
                    .into_iter()
                    .next()
                    .expect("the worker has rules");
                holder
                    .execute_unprepared("START TRANSACTION")
                    .await
                    .unwrap();
                holder
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::MySql,
                        "SELECT rule_id FROM rule_status WHERE rule_id = ? FOR UPDATE",
                        [rule.into()],
                    ))
                    .await
                    .unwrap();
                ("INSERT INTO `rule_status`", "COMMIT")
            }
        };
        within(
            &format!("{id} waits {stall:?}"),
            INTERVAL + SLACK * 2,
            async || {
                let running = self.statements_of(id).await;
                if running.iter().any(|s| s.contains(waiting_on)) {
                    Ok(())
                } else {
                    Err(format!("{running:?}"))
                }
            },
        )
        .await;
        self.processes.worker(id).signal("STOP");
        let stopped_ms = now_ms();
        holder.execute_unprepared(release).await.unwrap();
        holder.close().await.unwrap();
        within(
            &format!("the statement {id} waited on runs"),
            Duration::from_secs(5),
            async || {
                let running = self.statements_of(id).await;
                if running.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{running:?}"))
                }
            },
        )
        .await;
        stopped_ms
    }

    /// Every alert is firing and the only one of its series; returns the
    /// rules they belong to.
    async fn firing_rules(&self) -> BTreeSet<String> {
        let mut per_series: BTreeMap<(String, String), usize> = BTreeMap::new();
        for alert in alert::Entity::find().all(&self.db).await.unwrap() {
            assert_eq!(alert.state, "firing", "{alert:?}");
            *per_series
                .entry((alert.rule_id, alert.series_key))
                .or_default() += 1;
        }
        let doubled: Vec<_> = per_series.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubled.is_empty(), "series alerted twice: {doubled:?}");
        per_series.into_keys().map(|(rule, _)| rule).collect()
    }

    /// Waits until exactly the rules `expected` have fired, once each.
    async fn fired(&self, expected: &BTreeSet<String>, limit: Duration) {
        within("the expected alerts", limit, async || {
            self.observe().await;
            let firing = self.firing_rules().await;
            if firing == *expected {
                return Ok(());
            }
            let unexpected: Vec<_> = firing.difference(expected).collect();
            assert!(
                unexpected.is_empty(),
                "alerts of calm rules: {unexpected:?}"
            );
            Err(format!("{} of {} fired", firing.len(), expected.len()))
        })
        .await;
    }

    /// Waits until every alert has exactly one outbox row per event and
    /// channel, every row is delivered, and the receiver has had each one
    /// exactly once; returns how many were delivered.
    async fn delivered_once(&self, limit: Duration) -> usize {
        let delivered = within("every notification delivered", limit, async || {
            self.observe().await;
            let alerts: BTreeSet<String> = alert::Entity::find()
                .all(&self.db)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect();
            let rows = notification::Entity::find().all(&self.db).await.unwrap();
            let mut per_key: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
            for row in &rows {
                *per_key
                    .entry((&row.alert_id, &row.event, &row.channel_id))
                    .or_default() += 1;
            }
            let doubled: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
            assert!(doubled.is_empty(), "outbox rows queued twice: {doubled:?}");
            let notified: BTreeSet<String> = rows.iter().map(|r| r.alert_id.clone()).collect();
            let pending = rows.iter().filter(|r| r.status != "delivered").count();
            if notified != alerts || pending > 0 {
                return Err(format!(
                    "{} alerts, {} notified, {pending} rows not delivered",
                    alerts.len(),
                    notified.len()
                ));
            }
            Ok(rows)
        })
        .await;
        let mut received: BTreeMap<String, usize> = BTreeMap::new();
        for request in self.receiver.requests() {
            let id = request
                .header("webhook-id")
                .expect("a webhook-id")
                .to_owned();
            *received.entry(id).or_default() += 1;
        }
        let sent: BTreeMap<String, usize> = delivered.iter().map(|r| (r.id.clone(), 1)).collect();
        assert_eq!(received, sent, "each notification received exactly once");
        delivered.len()
    }
}

/// A webhook channel to `url`, sealed under `key` as the gateway seals it.
async fn webhook(db: &DatabaseConnection, owner: &str, key: &str, url: &str) -> ChannelId {
    let keyring = Keyring::from_base64(key, &[]).unwrap();
    let id = ChannelId::generate();
    let config = ChannelConfig::parse(
        ChannelKind::Webhook,
        json!({ "url": url }),
        &generate_signing_secret().unwrap(),
    )
    .unwrap();
    notification_channel::ActiveModel {
        id: Set(id.to_string()),
        owner_id: Set(owner.to_owned()),
        name: Set("fleet hook".into()),
        kind: Set("webhook".into()),
        sealed: Set(config.seal(&keyring, &id.to_string()).unwrap()),
        key_id: Set(keyring.current_key_id().to_owned()),
        redacted: Set(config.redacted().to_string()),
        created_at: Set(Timestamp::EPOCH),
        updated_at: Set(Timestamp::EPOCH),
        version: Set(1),
    }
    .insert(db)
    .await
    .unwrap();
    id
}

/// `RULES` one-second rules notifying `channel`: `HOT` on a series above
/// the threshold, `LATE` on one that crosses it when told, the rest calm.
async fn seed_rules(
    db: &DatabaseConnection,
    owner: &str,
    channel: ChannelId,
) -> BTreeMap<String, (i32, Group)> {
    let mut rules = BTreeMap::new();
    let mut rows = Vec::with_capacity(RULES);
    for n in 0..RULES {
        let group = match n {
            n if n < HOT => Group::Hot,
            n if n < HOT + LATE => Group::Late,
            _ => Group::Calm,
        };
        let symbols = group.symbols();
        let (id, row) = rule_row(owner, n, &symbols[n % symbols.len()], channel);
        rules.insert(id, (*row.shard.as_ref(), group));
        rows.push(row);
    }
    for chunk in rows.chunks(250) {
        alert_rule::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .unwrap();
    }
    rules
}

/// Rule `n`, a one-second rule on `symbol`'s price above 70,000 that
/// notifies `channel`, as the gateway would store it.
fn rule_row(
    owner: &str,
    n: usize,
    symbol: &str,
    channel: ChannelId,
) -> (String, alert_rule::ActiveModel) {
    let limits = RuleLimits {
        min_interval: HumanDuration::from_secs(1),
        ..RuleLimits::default()
    };
    let input: RuleInput = serde_json::from_value(json!({
        "name": format!("fleet rule {n}"),
        "metric": {
            "measurement": "crypto",
            "field": "price",
            "tags": {"symbol": symbol},
        },
        "condition": {"op": ">", "threshold": 70000},
        "interval": "1s",
        "channels": [channel.to_string()],
    }))
    .unwrap();
    let spec = RuleSpec::parse(input, &limits).unwrap();
    let id = RuleId::generate();
    let row = alert_rule::ActiveModel {
        id: Set(id.to_string()),
        owner_id: Set(owner.to_owned()),
        name: Set(spec.name.as_str().to_owned()),
        enabled: Set(true),
        severity: Set(spec.severity.as_str().to_owned()),
        interval_ms: Set(spec.interval.as_millis() as i64),
        shard: Set(shard_of(&id, SHARDS) as i32),
        spec: Set(serde_json::to_string(&spec).unwrap()),
        version: Set(1),
        created_at: Set(Timestamp::EPOCH),
        updated_at: Set(Timestamp::EPOCH),
    };
    (id.to_string(), row)
}

async fn insert_point(db: &DatabaseConnection, owner: &str, symbol: &str, at: i64, value: f64) {
    let tags = BTreeMap::from([("symbol".to_owned(), symbol.to_owned())]);
    point::ActiveModel {
        owner_id: Set(owner.to_owned()),
        db: Set("monitors".into()),
        measurement: Set("crypto".into()),
        field: Set("price".into()),
        series_key: Set(series_key(&tags)),
        tags: Set(serde_json::to_string(&tags).unwrap()),
        time: Set(at),
        value: Set(value),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

const THREE: [&str; 3] = ["w1", "w2", "w3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_evaluate_every_rule_once_each_interval() {
    let w = World::start(&THREE).await;
    let split = w.settled(&THREE, Duration::from_secs(30)).await;
    eprintln!("settled split: {split:?}");
    w.fired(&w.group(Group::Hot), Duration::from_secs(10)).await;

    let all = w.all_rules();
    let (first_tick, first_count) = w.between_ticks(&THREE, 0).await;
    w.watch_from_here();
    // Every interval, every rule, within the interval and a little room to
    // run and commit.
    let ticks = 5;
    let mut slowest = 0;
    for n in 1..=ticks {
        let tick = first_tick + n * INTERVAL_MS;
        let limit = millis(tick - now_ms()) + INTERVAL + SLACK;
        let seen = w
            .evaluated_after(&format!("every rule on tick {tick}"), &all, tick - 1, limit)
            .await;
        slowest = slowest.max(seen - tick);
    }
    let (last_tick, last_count) = w
        .between_ticks(&THREE, first_tick + ticks * INTERVAL_MS)
        .await;
    let intervals = (last_tick - first_tick) / INTERVAL_MS;
    let evaluated = (last_count - first_count) as i64;
    eprintln!(
        "{evaluated} evaluations over {intervals} intervals; \
         slowest tick complete {slowest} ms after it began"
    );
    // Once each: a rule evaluated twice on one tick (by two workers, or by
    // one) would push the count over, a tick skipped under it.
    assert_eq!(evaluated, RULES as i64 * intervals, "evaluations");
    let (gap, rule) = w.worst_gap(&all);
    assert!(gap <= INTERVAL_MS, "rule {rule} went {gap} ms unevaluated");
    w.delivered_once(Duration::from_secs(10)).await;
}

/// kill -9 one of three workers just after it renewed its leases, so that
/// they lapse a whole TTL after its death; some series cross the threshold
/// after the kill, the dead worker's among them. Its rules are evaluated
/// again within `limit` of the kill, the survivors' own rules never wait
/// longer than an interval and a TTL, and no alert is lost or doubled, and
/// no notification queued or sent twice.
async fn kill_one_of_three(limit: Duration) {
    let mut w = World::start(&THREE).await;
    w.settled(&THREE, Duration::from_secs(30)).await;
    w.fired(&w.group(Group::Hot), Duration::from_secs(10)).await;
    // Nothing is in flight to the receiver when the worker dies.
    w.delivered_once(Duration::from_secs(10)).await;

    let victim = "w2";
    let renewed = |leases: &[shard_lease::Model]| {
        leases
            .iter()
            .filter(|l| l.worker_id.as_deref() == Some(victim))
            .map(|l| l.expires_at)
            .max()
    };
    let before = renewed(&w.leases().await);
    within("the victim renews", renewal() + SLACK, async || {
        let now = renewed(&w.leases().await);
        if now > before {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    let orphaned = w.shards_of(victim).await;
    w.processes.worker_mut(victim).kill();
    let killed_ms = now_ms();
    let orphans = w.rules_in(&orphaned);
    assert!(
        !orphans.is_disjoint(&w.group(Group::Late)),
        "some rules that fire after the kill were the victim's"
    );
    w.set_value(Group::Late, ABOVE).await;
    w.observe().await;
    w.watch_from_here();

    let recovered = w
        .evaluated_after(
            "the victim's rules evaluated again",
            &orphans,
            killed_ms,
            Duration::from_secs(20),
        )
        .await;
    let failover = millis(recovered - killed_ms);
    let (gap, rule) = w.worst_gap(&orphans);
    eprintln!(
        "{} orphaned rules on {} shards evaluated again {failover:?} after kill -9; \
         largest gap between two evaluations of one of them {gap} ms ({rule})",
        orphans.len(),
        orphaned.len()
    );
    assert!(
        failover <= limit,
        "the victim's rules waited {failover:?} after kill -9, more than {limit:?}"
    );

    let survivors = ["w1", "w3"];
    w.settled(&survivors, Duration::from_secs(10)).await;
    let theirs: BTreeSet<String> = w.all_rules().difference(&orphans).cloned().collect();
    let (gap, rule) = w.worst_gap(&theirs);
    assert!(
        gap <= (INTERVAL + TTL).as_millis() as i64,
        "the survivors' rule {rule} went {gap} ms unevaluated"
    );
    let expected = w
        .group(Group::Hot)
        .union(&w.group(Group::Late))
        .cloned()
        .collect();
    w.fired(&expected, Duration::from_secs(10)).await;
    let delivered = w.delivered_once(Duration::from_secs(10)).await;
    assert_eq!(delivered, HOT + LATE);
}

/// What the fleet promises today: the lease lapses within a TTL, a
/// survivor's next round claims it within a renewal period, and its
/// engine's next refresh loads the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_rules_are_taken_over_and_no_alert_is_lost_or_doubled() {
    kill_one_of_three(TTL + renewal() + EngineSettings::default().refresh_every + SLACK).await;
}

/// Issue 5's target: within the lease TTL and one interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_rules_are_evaluated_again_within_the_ttl_and_an_interval() {
    kill_one_of_three(TTL + INTERVAL + SLACK / 2).await;
}

/// SIGSTOP one of three workers where `stall` says, past its lease. The
/// others claim its shards and keep evaluating their own rules; series
/// cross the threshold while it stands still. After SIGCONT it writes
/// nothing under its old leases (no rule's last evaluation goes back, no
/// alert or notification twice) and rejoins the split.
async fn stopped_past_its_lease(stall: Stall) {
    let w = World::start(&THREE).await;
    w.settled(&THREE, Duration::from_secs(30)).await;
    w.fired(&w.group(Group::Hot), Duration::from_secs(10)).await;
    w.delivered_once(Duration::from_secs(10)).await;

    let victim = "w3";
    let held = w.shards_of(victim).await;
    let stopped_ms = w.stop_at(victim, stall).await;
    w.watch_from_here();
    let claimed_ms = within(
        "the stopped worker's shards claimed by the others",
        TTL + renewal() + SLACK * 2,
        async || {
            w.observe().await;
            let now = now_ms();
            let unclaimed = w
                .leases()
                .await
                .iter()
                .filter(|l| held.contains(&l.shard))
                .filter(|l| {
                    l.expires_at.as_millis() < now
                        || l.worker_id.as_deref().is_none_or(|id| id == victim)
                })
                .count();
            if unclaimed == 0 {
                Ok(now)
            } else {
                Err(format!("{unclaimed} of {} not yet", held.len()))
            }
        },
    )
    .await;
    eprintln!(
        "{} shards of the worker stopped {stall:?} claimed {:?} after SIGSTOP",
        held.len(),
        millis(claimed_ms - stopped_ms)
    );
    // Had it written its stale view back, these would fire again.
    w.set_value(Group::Late, ABOVE).await;
    let expected: BTreeSet<String> = w
        .group(Group::Hot)
        .union(&w.group(Group::Late))
        .cloned()
        .collect();
    w.fired(&expected, Duration::from_secs(10)).await;

    w.processes.worker(victim).signal("CONT");
    let resumed_ms = now_ms();
    w.settled(&THREE, Duration::from_secs(15)).await;
    eprintln!(
        "split among three again {:?} after SIGCONT",
        millis(now_ms() - resumed_ms)
    );
    w.evaluated_after(
        "every rule evaluated after the worker rejoined",
        &w.all_rules(),
        now_ms(),
        INTERVAL * 2 + SLACK,
    )
    .await;
    let others: BTreeSet<String> = w
        .all_rules()
        .difference(&w.rules_in(&held))
        .cloned()
        .collect();
    let (gap, rule) = w.worst_gap(&others);
    assert!(
        gap <= (INTERVAL + TTL).as_millis() as i64,
        "rule {rule}, not the stopped worker's, went {gap} ms unevaluated"
    );
    assert_eq!(w.firing_rules().await, expected);
    assert_eq!(w.delivered_once(Duration::from_secs(10)).await, HOT + LATE);
    let fenced = w
        .processes
        .log_lines(victim, "batch fenced out: its shards changed hands");
    eprintln!("the resumed worker had {} batches fenced out", fenced.len());
    if let Stall::MidEvaluation = stall {
        assert!(
            !fenced.is_empty(),
            "the evaluation it resumed was refused by its fence"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_evaluation_past_its_lease_is_fenced_out_and_rejoins() {
    stopped_past_its_lease(Stall::MidEvaluation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_inside_its_write_transaction_does_not_stall_the_fleet() {
    stopped_past_its_lease(Stall::InsideItsWrite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_worker_gets_its_share_within_two_renewals_and_no_rule_waits() {
    let mut w = World::start(&THREE).await;
    w.settled(&THREE, Duration::from_secs(30)).await;
    w.observe().await;
    w.watch_from_here();

    w.processes.start("w4").await;
    let joined_ms = within("w4 announces itself", Duration::from_secs(5), async || {
        worker::Entity::find_by_id("w4")
            .one(&w.db)
            .await
            .unwrap()
            .map(|row| row.started_at.as_millis())
            .ok_or_else(|| "no heartbeat yet".to_owned())
    })
    .await;
    let four = ["w1", "w2", "w3", "w4"];
    let cap = fair_cap(four.len());
    let rebalanced_ms = within(
        "four workers share the shards",
        Duration::from_secs(15),
        async || {
            w.observe().await;
            let (split, unowned) = w.split().await;
            let fair =
                unowned == 0 && split.len() == four.len() && split.values().all(|n| *n <= cap);
            if fair {
                Ok(now_ms())
            } else {
                Err(format!("{split:?}, {unowned} unowned"))
            }
        },
    )
    .await;
    let rebalance = millis(rebalanced_ms - joined_ms);
    eprintln!("rebalanced {rebalance:?} after the fourth worker started");
    assert!(
        rebalance <= renewal() * 2 + SLACK,
        "the fourth worker got its share {rebalance:?} after it started"
    );

    // Every rule evaluated after the handover, so every gap has closed.
    let all = w.all_rules();
    w.evaluated_after(
        "every rule evaluated after the rebalance",
        &all,
        rebalanced_ms,
        TTL + INTERVAL + SLACK,
    )
    .await;
    let (gap, rule) = w.worst_gap(&all);
    eprintln!("largest gap between two evaluations of one rule: {gap} ms ({rule})");
    assert!(
        gap <= (INTERVAL + TTL).as_millis() as i64,
        "rule {rule} went {gap} ms unevaluated during the rebalance"
    );
    w.settled(&four, Duration::from_secs(10)).await;
    assert_eq!(w.firing_rules().await, w.group(Group::Hot));
}

impl World {
    /// Waits until every worker of `ids` reports a readiness that `wanted`
    /// accepts.
    async fn all_ready_as(
        &self,
        what: &str,
        ids: &[&str],
        limit: Duration,
        wanted: impl Fn(reqwest::StatusCode, &serde_json::Value) -> bool,
    ) {
        within(what, limit, async || {
            let mut not_yet = Vec::new();
            for id in ids {
                let (status, body) = self.processes.worker(id).readiness().await;
                if !wanted(status, &body) {
                    not_yet.push(format!("{id}: {status} {body}"));
                }
            }
            if not_yet.is_empty() {
                Ok(())
            } else {
                Err(not_yet.join("; "))
            }
        })
        .await;
    }

    /// After an outage that ended at `back_ms`: every worker ready again,
    /// every rule evaluated again, the fleet settled; returns how long the
    /// rules waited after the database came back.
    async fn recovered(&self, outage: &str, back_ms: i64) -> Duration {
        let limit = Duration::from_secs(30);
        self.all_ready_as(
            &format!("every worker ready after {outage}"),
            &THREE,
            limit,
            |status, _| status == reqwest::StatusCode::OK,
        )
        .await;
        let seen = self
            .evaluated_after(
                &format!("every rule evaluated after {outage}"),
                &self.all_rules(),
                back_ms,
                limit,
            )
            .await;
        self.settled(&THREE, limit).await;
        millis(seen - back_ms)
    }
}

/// The database goes away twice: stopped (SIGSTOP) until every worker's
/// leases have lapsed, then killed and restarted. Each time the workers
/// stop evaluating and say so in their readiness, reconnect by themselves
/// once it is back, re-form the split and evaluate every rule again; an
/// alert due during the outage fires once, and no alert or notification is
/// lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_rides_out_a_paused_and_a_restarted_database() {
    let mut w = World::start_private(&THREE).await;
    w.settled(&THREE, Duration::from_secs(30)).await;
    w.fired(&w.group(Group::Hot), Duration::from_secs(10)).await;
    w.delivered_once(Duration::from_secs(10)).await;

    w.server.private_server().pause();
    let paused = Instant::now();
    w.all_ready_as(
        "every worker reports its leases lapsed",
        &THREE,
        TTL + renewal() + SLACK,
        |status, body| {
            status == reqwest::StatusCode::SERVICE_UNAVAILABLE && body["reason"] == "leases lapsed"
        },
    )
    .await;
    let lapsed_after = paused.elapsed();
    w.server.private_server().resume();
    let resumed_ms = now_ms();
    let waited = w.recovered("the pause", resumed_ms).await;
    eprintln!(
        "paused {lapsed_after:?} (every worker's leases lapsed); every rule evaluated again \
         {waited:?} after the database resumed"
    );

    w.server.private_server().crash_and_restart();
    let restarted_ms = now_ms();
    // A series crosses the threshold right after the crash.
    w.set_value(Group::Late, ABOVE).await;
    let waited = w.recovered("the restart", restarted_ms).await;
    eprintln!("every rule evaluated again {waited:?} after the database restarted");

    let expected = w
        .group(Group::Hot)
        .union(&w.group(Group::Late))
        .cloned()
        .collect();
    w.fired(&expected, Duration::from_secs(10)).await;
    assert_eq!(w.delivered_once(Duration::from_secs(10)).await, HOT + LATE);
}

impl World {
    /// Stores a new rule on the hot series, announces it as the gateway
    /// does after its commit, and returns how long until it was evaluated
    /// and fired.
    async fn announce_new_rule(&self, publisher: &ChangePublisher, n: usize) -> Duration {
        let (id, row) = rule_row(&self.owner, n, "HOT", self.channel);
        let shard = *row.shard.as_ref();
        row.insert(&self.db).await.unwrap();
        let announced = Instant::now();
        publisher.rule_changed(&id, shard).await;
        within(
            &format!("new rule {id} fires"),
            Duration::from_secs(10),
            async || {
                let fired = alert::Entity::find()
                    .filter(alert::Column::RuleId.eq(id.as_str()))
                    .one(&self.db)
                    .await
                    .unwrap();
                fired.map(|_| ()).ok_or_else(|| "no alert yet".to_owned())
            },
        )
        .await;
        announced.elapsed()
    }
}

/// With the periodic resync a minute away, only the Redis announcement can
/// bring a new rule to its worker in time: it is evaluated (and fires)
/// within 2 s, before Redis restarts and after, once the workers have
/// resubscribed by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_changes_reach_the_fleet_through_redis_across_a_redis_restart() {
    let mut redis = Redis::start();
    let w = World::start_with_redis(redis.url(), &THREE).await;
    w.settled(&THREE, Duration::from_secs(30)).await;
    redis.subscribed(THREE.len() as i64).await;
    let publisher = ChangePublisher::new(&redis.url()).unwrap();

    let before = w.announce_new_rule(&publisher, RULES).await;
    redis.restart();
    redis.subscribed(THREE.len() as i64).await;
    let after = w.announce_new_rule(&publisher, RULES + 1).await;
    eprintln!(
        "announced rule fired {before:?} after its announcement; {after:?} after a Redis restart"
    );
    for (when, took) in [("before", before), ("after", after)] {
        assert!(
            took <= Duration::from_secs(2),
            "{when} the restart, a new rule waited {took:?}"
        );
    }
}
