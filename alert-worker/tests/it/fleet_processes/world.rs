//! What a fault test does with its world: starting the fleet on a fresh
//! database, reading the split and the evaluations back, stopping a worker
//! where a scenario says, and checking alerts and their notifications.

use super::{
    seed::{insert_point, seed_rules, webhook},
    *,
};

impl World {
    /// Seeds a fresh database on the shared MariaDB and starts the
    /// workers `ids`.
    pub(super) async fn start(ids: &[&str]) -> World {
        let serial = one_at_a_time().await;
        World::start_on(Server::shared().await, None, ids, serial).await
    }

    /// The same on a MariaDB server of the test's own.
    pub(super) async fn start_private(ids: &[&str]) -> World {
        let serial = one_at_a_time().await;
        World::start_on(Server::private().await, None, ids, serial).await
    }

    /// On the shared MariaDB, with rule changes announced on `redis_url`.
    pub(super) async fn start_with_redis(redis_url: String, ids: &[&str]) -> World {
        let serial = one_at_a_time().await;
        World::start_on(Server::shared().await, Some(redis_url), ids, serial).await
    }

    pub(super) async fn start_on(
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

    pub(super) fn all_rules(&self) -> BTreeSet<String> {
        self.rules.keys().cloned().collect()
    }

    pub(super) fn group(&self, group: Group) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|(_, (_, g))| *g == group)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(super) fn rules_in(&self, shards: &BTreeSet<Shard>) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|(_, (shard, _))| shards.contains(shard))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Moves a group's series to `value` from now on.
    pub(super) async fn set_value(&self, group: Group, value: f64) {
        for symbol in group.symbols() {
            insert_point(&self.db, &self.owner, &symbol, now_ms(), value).await;
        }
    }

    /// Shards with a current lease, by holder; and how many have none.
    pub(super) async fn split(&self) -> (BTreeMap<String, usize>, u64) {
        let now = Timestamp::from_millis(now_ms());
        let held = alert_worker::members(&self.db, now)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.shards > 0)
            .map(|m| (m.worker_id, m.shards))
            .collect();
        (
            held,
            alert_worker::unowned_shards(&self.db, now).await.unwrap(),
        )
    }

    pub(super) async fn leases(&self) -> Vec<shard_lease::Model> {
        shard_lease::Entity::find().all(&self.db).await.unwrap()
    }

    /// The shards whose current lease `id` holds.
    pub(super) async fn shards_of(&self, id: &str) -> BTreeSet<Shard> {
        let now = now_ms();
        self.leases()
            .await
            .into_iter()
            .filter(|l| l.worker_id.as_deref() == Some(id) && l.expires_at.as_millis() >= now)
            .map(|l| l.shard)
            .collect()
    }

    /// Each rule's last evaluation (its tick), by rule id.
    pub(super) async fn last_evaluated(&self) -> HashMap<String, i64> {
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
    pub(super) async fn evaluated_span(&self) -> (i64, i64, i64) {
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
    pub(super) async fn observe_now(&self) -> HashMap<String, i64> {
        let seen = self.last_evaluated().await;
        let mut watch = self.watch.lock().unwrap();
        watch.fetched_at = Some(Instant::now());
        watch.record(seen.clone());
        seen
    }

    /// Feeds the watch, at most every 100 ms (a full read of the rules'
    /// status is not free on two cores). Every wait calls it, so the watch
    /// sees each one-second tick of every rule.
    pub(super) async fn observe(&self) {
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
    pub(super) fn watch_from_here(&self) {
        self.watch.lock().unwrap().gaps.clear();
    }

    /// The largest step between successive evaluations of one of `rules`
    /// since [`Self::watch_from_here`], after checking that no rule's last
    /// evaluation ever went back in time.
    pub(super) fn worst_gap(&self, rules: &BTreeSet<String>) -> (i64, String) {
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
    pub(super) async fn settled(&self, ids: &[&str], limit: Duration) -> BTreeMap<String, usize> {
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
    pub(super) async fn evaluated_after(
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
    pub(super) async fn between_ticks(&self, ids: &[&str], from_tick: i64) -> (i64, f64) {
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
    pub(super) async fn statements_of(&self, id: &str) -> Vec<String> {
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
    pub(super) async fn stop_at(&self, id: &str, stall: Stall) -> i64 {
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
    pub(super) async fn firing_rules(&self) -> BTreeSet<String> {
        let mut per_series: BTreeMap<(String, String), usize> = BTreeMap::new();
        for alert in alert::Entity::find().all(&self.db).await.unwrap() {
            assert_eq!(alert.state.as_str(), "firing", "{alert:?}");
            *per_series
                .entry((alert.rule_id.to_string(), alert.series_key))
                .or_default() += 1;
        }
        let doubled: Vec<_> = per_series.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubled.is_empty(), "series alerted twice: {doubled:?}");
        per_series.into_keys().map(|(rule, _)| rule).collect()
    }

    /// Waits until exactly the rules `expected` have fired, once each.
    pub(super) async fn fired(&self, expected: &BTreeSet<String>, limit: Duration) {
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
    pub(super) async fn delivered_once(&self, limit: Duration) -> usize {
        let delivered = within("every notification delivered", limit, async || {
            self.observe().await;
            let alerts: BTreeSet<String> = alert::Entity::find()
                .all(&self.db)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id.to_string())
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
