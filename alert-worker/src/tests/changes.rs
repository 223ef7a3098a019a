//! Rule changes through Redis pub/sub against a private `redis-server`
//! started for each test on a free loopback port: a published change wakes
//! the listener, a worker's engine picks a new rule up within 2 s although
//! its periodic resync is a minute away, and a Redis restart is ridden out.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::testing::fixture::fixture;
use crate::testing::redis_server::Redis;
use crate::{
    engine::{Engine, EngineSettings, RuleScope},
    source::builtin::BuiltinSource,
    testing::within,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use shared_models::{
    changes::{ChangePublisher, listen},
    entity::rule_status,
    shard::Shard,
    time::SystemClock,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

async fn woken(signal: &Notify, within: Duration) -> bool {
    tokio::time::timeout(within, signal.notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_published_change_wakes_the_listener_and_survives_a_redis_restart() {
    let mut redis = Redis::start();
    let url = redis.url();
    let signal = Arc::new(Notify::new());
    let stop = CancellationToken::new();
    let listening = tokio::spawn(listen(url.clone(), signal.clone(), stop.clone()));
    // The listener wakes once when it has subscribed.
    assert!(woken(&signal, Duration::from_secs(5)).await, "subscribed");
    let publisher = ChangePublisher::new(&url).unwrap();
    publisher
        .rule_changed("rule-1", Shard::new(7).unwrap())
        .await;
    assert!(
        woken(&signal, Duration::from_secs(2)).await,
        "woken by the change"
    );

    // Redis goes away and comes back on the same port.
    redis.restart();
    assert!(
        woken(&signal, Duration::from_secs(10)).await,
        "resubscribed after the restart"
    );
    // Until the listener has resubscribed, a message is lost: that is what
    // the periodic resync is for. Publish until one is heard.
    within(
        "a change heard after the restart",
        Duration::from_secs(10),
        async || {
            publisher
                .rule_changed("rule-2", Shard::new(7).unwrap())
                .await;
            match woken(&signal, Duration::from_millis(200)).await {
                true => Ok(()),
                false => Err("not woken".to_owned()),
            }
        },
    )
    .await;
    stop.cancel();
    listening.await.unwrap();
}

#[tokio::test]
async fn a_new_rule_reaches_the_engine_within_two_seconds() {
    let redis = Redis::start();
    let f = fixture().await;
    let engine = Engine::new(
        f.db.clone(),
        Arc::new(BuiltinSource::new(f.db.clone(), "monitors".to_owned())),
        Arc::new(SystemClock),
        RuleScope::All,
        EngineSettings {
            refresh_every: Duration::from_secs(60),
            ..EngineSettings::default()
        },
    );
    let stop = CancellationToken::new();
    let signal = engine.refresh_signal();
    let listening = tokio::spawn(listen(redis.url(), signal.clone(), stop.clone()));
    let running = tokio::spawn(engine.run(stop.clone()));
    redis.subscribed(1).await;
    // The engine's first refreshes happened at start and on subscribing; the
    // next periodic one is a minute away, so only the announcement can
    // bring the rule in.
    let rule = f.rule(json!({})).await;
    let announced = Instant::now();
    ChangePublisher::new(&redis.url())
        .unwrap()
        .rule_changed(&rule.to_string(), Shard::FIRST)
        .await;
    loop {
        let evaluated = rule_status::Entity::find()
            .filter(rule_status::Column::RuleId.eq(rule.to_string()))
            .one(&f.db)
            .await
            .unwrap();
        if evaluated.is_some() {
            break;
        }
        assert!(
            announced.elapsed() < Duration::from_secs(2),
            "the rule was not evaluated within 2 s of the announcement"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    running.await.unwrap();
    listening.await.unwrap();
}
