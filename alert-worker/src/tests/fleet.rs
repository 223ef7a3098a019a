//! Shard leases between workers sharing one database: a fair split, handover
//! when a worker leaves or dies, and fencing of a worker that lost its
//! leases without knowing. Each worker runs on its own manual clock, so a
//! paused process is a clock that stands still.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use crate::testing::fixture::{fixture_on, t, ts};
use crate::{
    engine::RuleScope,
    fleet::{Fleet, FleetSettings},
    testing::Backend,
};
use chrono::{TimeZone, Utc};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::json;
use shared_models::{
    entity::shard_lease,
    time::{ManualClock, Timestamp},
};

const SHARDS: u32 = 256;
const TTL_MS: i64 = 15_000;

struct Worker {
    fleet: Fleet,
    clock: Arc<ManualClock>,
}

fn worker(db: &DatabaseConnection, id: &str, at: i64) -> Worker {
    let clock = Arc::new(ManualClock::new(Utc.timestamp_millis_opt(at).unwrap()));
    let fleet = Fleet::new(
        db.clone(),
        id.to_owned(),
        clock.clone(),
        FleetSettings {
            shard_count: SHARDS,
            lease_ttl: Duration::from_millis(TTL_MS as u64),
            host: "test".into(),
        },
    );
    Worker { fleet, clock }
}

/// Who holds each shard, by the database.
async fn holders(db: &DatabaseConnection) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for lease in shard_lease::Entity::find().all(db).await.unwrap() {
        *out.entry(lease.worker_id.unwrap_or_default()).or_default() += 1;
    }
    out
}

async fn three_workers_split_the_shards_fairly(backend: Backend) {
    let f = fixture_on(backend).await;
    let workers: Vec<Worker> = ["a", "b", "c"]
        .iter()
        .map(|id| worker(&f.db, id, t(0)))
        .collect();
    // The first to arrive takes everything; the others' arrival makes it
    // let go, and they claim what it released: two rounds each settle it.
    for _ in 0..3 {
        for w in &workers {
            w.fleet.round().await.unwrap();
        }
    }
    let split = holders(&f.db).await;
    assert_eq!(split.values().sum::<usize>(), SHARDS as usize);
    assert!(!split.contains_key(""), "no shard left unowned: {split:?}");
    let cap = (SHARDS as usize).div_ceil(3) + 1;
    for (worker, count) in &split {
        assert!(*count <= cap, "{worker} holds {count} > {cap}");
    }
    for w in &workers {
        let held = w.fleet.ownership().current(ts(0));
        let id = w.fleet.ownership().worker_id().to_owned();
        assert_eq!(held.len(), split[&id], "{id}'s view matches the database");
    }
}

async fn a_dead_workers_shards_are_claimed_after_the_ttl(backend: Backend) {
    let f = fixture_on(backend).await;
    let a = worker(&f.db, "a", t(0));
    let b = worker(&f.db, "b", t(0));
    for _ in 0..3 {
        a.fleet.round().await.unwrap();
        b.fleet.round().await.unwrap();
    }
    let b_had = b.fleet.ownership().current(ts(0));
    assert!(!b_had.is_empty());
    // b dies (no more rounds). Before its leases lapse, a cannot take them.
    a.clock.set_millis(t(0) + TTL_MS - 1);
    a.fleet.round().await.unwrap();
    assert_eq!(holders(&f.db).await["b"], b_had.len());
    a.clock.set_millis(t(0) + TTL_MS + 1);
    let report = a.fleet.round().await.unwrap();
    assert_eq!(report.live_workers, 1);
    assert_eq!(report.claimed.len(), b_had.len());
    let now_a = a
        .fleet
        .ownership()
        .current(Timestamp::from_millis(t(0) + TTL_MS + 1));
    assert_eq!(now_a.len(), SHARDS as usize);
    for (shard, epoch) in &b_had {
        assert!(
            now_a[shard] > *epoch,
            "shard {shard} was claimed under a new epoch"
        );
    }
}

async fn a_leaving_worker_hands_over_at_once(backend: Backend) {
    let f = fixture_on(backend).await;
    let a = worker(&f.db, "a", t(0));
    let b = worker(&f.db, "b", t(0));
    for _ in 0..3 {
        a.fleet.round().await.unwrap();
        b.fleet.round().await.unwrap();
    }
    b.fleet.leave().await.unwrap();
    assert!(b.fleet.ownership().current(ts(0)).is_empty());
    // No waiting for a TTL: the next round of a takes everything.
    a.clock.set_millis(t(1));
    a.fleet.round().await.unwrap();
    assert_eq!(holders(&f.db).await.get("a"), Some(&(SHARDS as usize)));
}

/// b holds every shard, then stands still (SIGSTOP) past its leases; a
/// claims them. b, resumed with its stale view, evaluates a firing rule:
/// the fence refuses its writes, and a records the alert once.
async fn a_paused_worker_cannot_write_once_its_shards_are_claimed(backend: Backend) {
    let f = fixture_on(backend).await;
    f.rule(json!({})).await;
    f.point("BTC", t(1), 71_000.0).await;
    let b = worker(&f.db, "b", t(0));
    b.fleet.round().await.unwrap();
    let mut b_engine = f.engine_with(RuleScope::Fleet(b.fleet.ownership()), b.clock.clone());
    assert_eq!(b_engine.refresh().await.unwrap().total, 1);

    let a = worker(&f.db, "a", t(0) + TTL_MS + 1);
    a.fleet.round().await.unwrap();
    assert_eq!(holders(&f.db).await.get("a"), Some(&(SHARDS as usize)));

    // b's clock has not moved: it still believes its leases current.
    b.clock.set_millis(t(10));
    let report = b_engine.evaluate_due(ts(10)).await.unwrap();
    assert_eq!((report.rules, report.fenced), (1, 1));
    assert_eq!(report.persisted.fired, 0);
    assert!(f.alerts().await.is_empty(), "the fenced write left nothing");

    let mut a_engine = f.engine_with(RuleScope::Fleet(a.fleet.ownership()), a.clock.clone());
    a_engine.refresh().await.unwrap();
    let report = a_engine.evaluate_due(ts(20)).await.unwrap();
    assert_eq!((report.fenced, report.persisted.fired), (0, 1));
    assert_eq!(f.alerts().await.len(), 1);
}

crate::on_both_backends!(
    three_workers_split_the_shards_fairly,
    a_dead_workers_shards_are_claimed_after_the_ttl,
    a_leaving_worker_hands_over_at_once,
    a_paused_worker_cannot_write_once_its_shards_are_claimed,
);
