//! The outbox end to end: the engine queues notifications in the
//! transaction that records an alert's transition, and the dispatcher
//! delivers them to real local receivers, with retries, Retry-After, a
//! retry budget, muting, and restarts. Time is the fixture's manual clock;
//! waits on background work have deadlines.

use std::{collections::HashMap, sync::Arc, time::Duration};

use crate::testing::fixture::{Fixture, fixture_on, t, ts};
use crate::testing::receiver::{Receiver, Reply};
use crate::{
    metrics::WorkerMetrics,
    notify::{
        dispatch::{DispatchReport, DispatchSettings, Dispatcher},
        send::Sender,
    },
    testing::{Backend, within},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use shared_models::{
    channel::signing::generate_signing_secret, config::NotifySettings, metrics::render,
};
use shared_models::{
    channel::{ChannelConfig, ChannelKind},
    crypto::Keyring,
    entity::{notification, notification_channel, silence},
    ids::{ChannelId, RuleId},
    time::Timestamp,
};
use tokio_util::sync::CancellationToken;

struct Outbox {
    f: Fixture,
    keyring: Arc<Keyring>,
    settings: NotifySettings,
}

async fn outbox(backend: Backend) -> Outbox {
    Outbox {
        f: fixture_on(backend).await,
        keyring: Arc::new(Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap()),
        settings: NotifySettings {
            egress_allowlist: "127.0.0.1/32".into(),
            notify_timeout: Duration::from_secs(2),
            notify_max_attempts: 3,
            ..NotifySettings::default()
        },
    }
}

impl Outbox {
    /// A webhook channel to `url`, sealed as the gateway seals it.
    async fn webhook(&self, url: &str) -> ChannelId {
        let id = ChannelId::generate();
        let config = ChannelConfig::parse(
            ChannelKind::Webhook,
            json!({ "url": url }),
            &generate_signing_secret().unwrap(),
        )
        .unwrap();
        notification_channel::ActiveModel {
            id: Set(id.to_string()),
            owner_id: Set(self.f.owner.to_string()),
            name: Set(format!("hook {id}")),
            kind: Set("webhook".into()),
            sealed: Set(config.seal(&self.keyring, &id.to_string()).unwrap()),
            key_id: Set(self.keyring.current_key_id().to_owned()),
            redacted: Set(config.redacted().to_string()),
            created_at: Set(Timestamp::EPOCH),
            updated_at: Set(Timestamp::EPOCH),
            version: Set(1),
        }
        .insert(&self.f.db)
        .await
        .unwrap();
        id
    }

    /// A rule on symbol `symbol` above 70000 that notifies `channel`.
    async fn rule(&self, symbol: &str, channel: ChannelId, extra: serde_json::Value) -> RuleId {
        let mut spec = json!({
            "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": symbol}, "window": "1m"},
            "channels": [channel.to_string()],
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        self.f.rule(spec).await
    }

    /// A webhook channel to `url`, and a rule on BTC that fired on it at
    /// t(10), where the clock now stands; returns the channel.
    async fn fire_btc(&self, url: &str) -> ChannelId {
        let channel = self.webhook(url).await;
        self.rule("BTC", channel, json!({})).await;
        let mut engine = self.f.engine();
        engine.refresh().await.unwrap();
        self.f.point("BTC", t(1), 71_000.0).await;
        engine.evaluate_due(ts(10)).await.unwrap();
        self.f.clock.set_millis(t(10));
        channel
    }

    fn dispatcher(&self) -> Arc<Dispatcher> {
        Arc::new(Dispatcher::new(
            self.f.db.clone(),
            Arc::new(Sender::from_config(&self.settings).unwrap()),
            self.keyring.clone(),
            self.f.clock.clone(),
            DispatchSettings::from_config(&self.settings),
        ))
    }

    async fn rows(&self) -> Vec<notification::Model> {
        notification::Entity::find()
            .order_by_asc(notification::Column::CreatedAt)
            .order_by_asc(notification::Column::Id)
            .all(&self.f.db)
            .await
            .unwrap()
    }
}

fn report(delivered: usize, retrying: usize, failed: usize) -> DispatchReport {
    DispatchReport {
        delivered,
        retrying,
        failed,
    }
}

async fn firing_and_resolution_each_reach_the_receiver_once(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::start().await;
    let channel = o.webhook(&receiver.url("/hook")).await;
    let rule = o.rule("BTC", channel, json!({})).await;
    let mut engine = o.f.engine();
    engine.refresh().await.unwrap();
    let dispatcher = o.dispatcher();

    o.f.point("BTC", t(1), 71_000.0).await;
    let sweep = engine.evaluate_due(ts(10)).await.unwrap();
    assert_eq!(sweep.persisted.notifications_queued, 1);
    let rows = o.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].event.as_str(), rows[0].status.as_str()),
        ("firing", "pending")
    );
    assert_eq!(rows[0].rule_id, rule.to_string());

    o.f.clock.set_millis(t(10));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(1, 0, 0)
    );
    let got = receiver.single();
    assert_eq!(got.header("webhook-id"), Some(rows[0].id.as_str()));
    assert_eq!(got.json()["type"], "alert.firing");
    assert_eq!(got.json()["data"]["value"], 71_000.0);

    o.f.point("BTC", t(11), 69_000.0).await;
    engine.evaluate_due(ts(20)).await.unwrap();
    o.f.clock.set_millis(t(20));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(1, 0, 0)
    );
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].json()["type"], "alert.resolved");
    let rows = o.rows().await;
    assert!(
        rows.iter()
            .all(|r| r.status == "delivered" && r.attempts == 1)
    );
    assert_eq!(rows[0].alert_id, rows[1].alert_id);
}

async fn a_500_then_200_is_delivered_exactly_once_after_a_retry(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::scripted([Reply::status(500).body("try later")]).await;
    o.fire_btc(&receiver.url("/hook")).await;
    let dispatcher = o.dispatcher();

    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 1, 0)
    );
    let row = &o.rows().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(row.response_status, Some(500));
    assert!(
        row.next_attempt_at > ts(10),
        "the retry waits for its backoff"
    );
    // Not due yet: nothing is sent.
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );

    o.f.clock.set_millis(row.next_attempt_at.as_millis());
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(1, 0, 0)
    );
    o.f.clock.set_millis(t(3_600));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id"),
        "a retry carries the same idempotency key"
    );
    let row = &o.rows().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("delivered", 2));
}

async fn retry_after_is_honoured(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::scripted([Reply::status(429).header("retry-after", "2")]).await;
    o.fire_btc(&receiver.url("/hook")).await;
    let dispatcher = o.dispatcher();

    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 1, 0)
    );
    assert_eq!(o.rows().await[0].next_attempt_at, ts(12));
    o.f.clock.set_millis(t(12) - 1);
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );
    assert_eq!(receiver.requests().len(), 1, "no retry before 2 s");
    o.f.clock.set_millis(t(12));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(1, 0, 0)
    );
    assert_eq!(receiver.requests().len(), 2);
}

async fn a_receiver_down_past_the_budget_is_marked_failed(backend: Backend) {
    let o = outbox(backend).await;
    // A port that was free a moment ago: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    o.fire_btc(&format!("http://{closed}/hook")).await;
    let dispatcher = o.dispatcher();

    for attempt in 1..=2 {
        assert_eq!(
            dispatcher.dispatch_all_due().await.unwrap(),
            report(0, 1, 0)
        );
        let row = &o.rows().await[0];
        assert_eq!((row.status.as_str(), row.attempts), ("pending", attempt));
        o.f.clock.set_millis(row.next_attempt_at.as_millis());
    }
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 1)
    );
    let row = &o.rows().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 3));
    let error = row.last_error.as_deref().unwrap();
    assert!(error.starts_with("gave up after 3 attempts"), "{error}");
    o.f.clock.set_millis(t(86_400));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );
}

async fn a_restarted_dispatcher_resends_only_what_was_not_delivered(backend: Backend) {
    let o = outbox(backend).await;
    // The first alert's request is answered; the second's hangs, and the
    // dispatcher is killed while it waits.
    let receiver = Receiver::scripted([Reply::status(200), Reply::hang()]).await;
    let channel = o.webhook(&receiver.url("/hook")).await;
    o.rule("BTC", channel, json!({})).await;
    o.rule("ETH", channel, json!({})).await;
    let mut engine = o.f.engine();
    engine.refresh().await.unwrap();
    o.f.point("BTC", t(1), 71_000.0).await;
    engine.evaluate_due(ts(10)).await.unwrap();
    o.f.clock.set_millis(t(10));

    let first = o.dispatcher();
    let stop = CancellationToken::new();
    let running = tokio::spawn(first.run(stop.clone()));
    within("the first delivery", Duration::from_secs(10), async || {
        let rows = o.rows().await;
        match rows.iter().any(|r| r.status == "delivered") {
            true => Ok(()),
            false => Err(format!(
                "{:?}",
                rows.iter().map(|r| &r.status).collect::<Vec<_>>()
            )),
        }
    })
    .await;
    o.f.point("ETH", t(11), 71_000.0).await;
    engine.evaluate_due(ts(20)).await.unwrap();
    o.f.clock.set_millis(t(20));
    within(
        "the second request",
        Duration::from_secs(10),
        async || match receiver.requests().len() {
            2 => Ok(()),
            n => Err(format!("{n} requests")),
        },
    )
    .await;
    // Killed mid-delivery: the task is dropped where it stands, as a
    // crashed process would be; nothing more is written.
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    let rows = o.rows().await;
    let (delivered, stuck) = (&rows[0], &rows[1]);
    assert_eq!(delivered.status, "delivered");
    assert_eq!((stuck.status.as_str(), stuck.attempts), ("pending", 0));
    assert!(stuck.claimed_until.is_some());

    // A new dispatcher leaves the claimed row alone until its claim expires,
    // then sends it again under the same id; the delivered one never again.
    let second = o.dispatcher();
    assert_eq!(second.dispatch_all_due().await.unwrap(), report(0, 0, 0));
    o.f.clock
        .set_millis(stuck.claimed_until.unwrap().as_millis() + 1);
    assert_eq!(second.dispatch_all_due().await.unwrap(), report(1, 0, 0));
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for request in receiver.requests() {
        *by_id
            .entry(request.header("webhook-id").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(by_id.get(&delivered.id), Some(&1));
    assert_eq!(by_id.get(&stuck.id), Some(&2));
    assert!(o.rows().await.iter().all(|r| r.status == "delivered"));
}

async fn concurrent_dispatchers_never_send_one_notification_twice(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::start().await;
    let channel = o.webhook(&receiver.url("/hook")).await;
    const ALERTS: usize = 60;
    for i in 0..ALERTS {
        o.rule(&format!("S{i}"), channel, json!({})).await;
        o.f.point(&format!("S{i}"), t(1), 71_000.0).await;
    }
    let mut engine = o.f.engine();
    engine.refresh().await.unwrap();
    engine.evaluate_due(ts(10)).await.unwrap();
    o.f.clock.set_millis(t(10));

    let (a, b, c) = (o.dispatcher(), o.dispatcher(), o.dispatcher());
    let (ra, rb, rc) = tokio::join!(
        a.dispatch_all_due(),
        b.dispatch_all_due(),
        c.dispatch_all_due()
    );
    let delivered = ra.unwrap().delivered + rb.unwrap().delivered + rc.unwrap().delivered;
    assert_eq!(delivered, ALERTS);
    let requests = receiver.requests();
    let ids: std::collections::HashSet<_> = requests
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!((requests.len(), ids.len()), (ALERTS, ALERTS));
}

async fn a_silenced_firing_is_recorded_and_sent_once_the_silence_is_gone(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::start().await;
    let channel = o.webhook(&receiver.url("/hook")).await;
    let rule = o
        .rule("BTC", channel, json!({"labels": {"team": "trading"}}))
        .await;
    silence::ActiveModel {
        id: Set("0193a000-0000-7000-8000-000000000001".into()),
        owner_id: Set(o.f.owner.to_string()),
        rule_id: Set(None),
        matchers: Set(r#"{"team":"trading"}"#.into()),
        comment: Set("maintenance".into()),
        created_by: Set(o.f.owner.to_string()),
        starts_at: Set(Timestamp::from_millis(t(0))),
        ends_at: Set(Timestamp::from_millis(t(25))),
        created_at: Set(Timestamp::from_millis(t(0))),
    }
    .insert(&o.f.db)
    .await
    .unwrap();
    let mut engine = o.f.engine();
    engine.refresh().await.unwrap();
    let dispatcher = o.dispatcher();

    o.f.point("BTC", t(1), 71_000.0).await;
    engine.evaluate_due(ts(10)).await.unwrap();
    o.f.clock.set_millis(t(10));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );
    let rows = o.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "silenced");
    assert!(rows[0].reason.as_deref().unwrap().contains("0193a000"));

    // Still silenced at t(20): nothing new recorded or sent.
    engine.evaluate_due(ts(20)).await.unwrap();
    assert_eq!(o.rows().await.len(), 1);
    // The silence ended at t(25); the alert still fires at t(30).
    engine.evaluate_due(ts(30)).await.unwrap();
    o.f.clock.set_millis(t(30));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(1, 0, 0)
    );
    let got = receiver.single();
    assert_eq!(got.json()["type"], "alert.firing");
    assert_eq!(got.json()["data"]["rule_id"], rule.to_string());
}

async fn a_firing_alert_repeats_every_repeat_interval(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::start().await;
    let channel = o.webhook(&receiver.url("/hook")).await;
    o.rule("BTC", channel, json!({"repeat_interval": "30s"}))
        .await;
    let mut engine = o.f.engine();
    engine.refresh().await.unwrap();
    o.f.point("BTC", t(1), 71_000.0).await;
    for at in [10, 20, 30, 40, 50] {
        engine.evaluate_due(ts(at)).await.unwrap();
    }
    let events: Vec<String> = o.rows().await.into_iter().map(|r| r.event).collect();
    assert_eq!(
        events,
        ["firing", "repeat"],
        "fired at 10 s, repeated at 40 s"
    );
    let rows = o.rows().await;
    assert_eq!(rows[1].created_at, ts(40));
    assert_eq!(rows[0].alert_id, rows[1].alert_id);
}

async fn a_deleted_channel_fails_its_notification(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::start().await;
    let channel = o.fire_btc(&receiver.url("/hook")).await;
    notification_channel::Entity::delete_many()
        .filter(notification_channel::Column::Id.eq(channel.to_string()))
        .exec(&o.f.db)
        .await
        .unwrap();
    o.f.clock.set_millis(t(10));
    assert_eq!(
        o.dispatcher().dispatch_all_due().await.unwrap(),
        report(0, 0, 1)
    );
    let row = &o.rows().await[0];
    assert_eq!(
        row.last_error.as_deref(),
        Some("the channel no longer exists")
    );
    assert!(receiver.requests().is_empty());
}

/// A channel sealed under a key this process lacks: retrying cannot open it,
/// so the notification fails at once, saying which key is missing, is
/// counted, and is not tried again.
async fn a_channel_sealed_under_a_missing_key_fails_at_once(backend: Backend) {
    let o = outbox(backend).await;
    let receiver = Receiver::start().await;
    o.fire_btc(&receiver.url("/hook")).await;
    let other = Arc::new(Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap());
    let metrics = Arc::new(WorkerMetrics::new().unwrap());
    let dispatcher = Arc::new(
        Dispatcher::new(
            o.f.db.clone(),
            Arc::new(Sender::from_config(&o.settings).unwrap()),
            other.clone(),
            o.f.clock.clone(),
            DispatchSettings::from_config(&o.settings),
        )
        .with_metrics(metrics.clone()),
    );

    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 1)
    );
    let row = &o.rows().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    let error = row.last_error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!(
            "the channel is sealed under key {}, which this process does not have; give every gateway and worker the installation's MONITORS_ENCRYPTION_KEY",
            o.keyring.current_key_id()
        )),
        "{error}"
    );
    let text = render(metrics.registry()).unwrap();
    for series in [
        "monitors_worker_notifications_unopenable_total 1",
        "monitors_worker_notifications_total{outcome=\"failed\"} 1",
        "monitors_worker_notifications_total{outcome=\"retry\"} 0",
    ] {
        assert!(text.lines().any(|l| l == series), "{series} in:\n{text}");
    }

    // A day later it is still failed, and no one was sent anything.
    o.f.clock.set_millis(t(86_400 + 10));
    assert_eq!(
        dispatcher.dispatch_all_due().await.unwrap(),
        report(0, 0, 0)
    );
    assert_eq!(o.rows().await[0].attempts, 1);
    assert!(receiver.requests().is_empty());
}

crate::on_both_backends!(
    a_channel_sealed_under_a_missing_key_fails_at_once,
    firing_and_resolution_each_reach_the_receiver_once,
    a_500_then_200_is_delivered_exactly_once_after_a_retry,
    retry_after_is_honoured,
    a_receiver_down_past_the_budget_is_marked_failed,
    a_restarted_dispatcher_resends_only_what_was_not_delivered,
    concurrent_dispatchers_never_send_one_notification_twice,
    a_silenced_firing_is_recorded_and_sent_once_the_silence_is_gone,
    a_firing_alert_repeats_every_repeat_interval,
    a_deleted_channel_fails_its_notification,
);
