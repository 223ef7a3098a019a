//! The services the fleet depends on going away: the database paused and
//! restarted, and Redis restarted under the rule-change listeners.

use super::{seed::rule_row, *};

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
