//! Rules evaluated for real, end to end through MCP: points go in, alerts
//! come out, on the built-in store and on InfluxDB, with the gateway's
//! embedded worker on the real clock.

use std::time::{Duration, Instant};

use alert_worker::testing::{influxd, receiver::Receiver};
use serde_json::{Value, json};

use crate::support::{
    Backend, McpClient, TestApp, on_both_backends, spawn_app, spawn_live_app, spawn_live_replica,
    wait_for,
};

on_both_backends!(
    builtin_store_fires_and_resolves,
    a_firing_reaches_the_channel_and_shows_as_delivered,
    pending_timer_survives_a_restart,
    backtest_finds_past_episodes,
);

pub async fn write_price(app: &TestApp, token: &str, price: f64) {
    write_price_to(&app.addr.to_string(), token, price).await;
}

pub async fn write_price_to(addr: &str, token: &str, price: f64) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/write?db=monitors&precision=ms"))
        .bearer_auth(token)
        .body(format!("crypto,symbol=BTC price={price}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        204,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

type Timestamp = chrono::DateTime<chrono::FixedOffset>;

/// Waits until the rule's one series has been pending for two seconds, so
/// that a timer restarted now would visibly fire later; returns when
/// pending began.
pub async fn pending_for_two_seconds(client: &McpClient, id: &Value) -> Timestamp {
    wait_for(
        Duration::from_secs(10),
        "two seconds of pending",
        || async {
            let health = client.ok("get_alert_rule", json!({"id": id})).await["health"].clone();
            let series = health["series"].get(0)?.clone();
            (series["state"] == "pending").then_some(())?;
            let since = chrono::DateTime::parse_from_rfc3339(series["since"].as_str()?).ok()?;
            (chrono::Utc::now().signed_duration_since(since) >= chrono::Duration::seconds(2))
                .then_some(since)
        },
    )
    .await
}

/// Waits for the alert of a rule with `for: 6s` after a restart, and checks
/// that its timer ran from `since` rather than from `restarted_at`.
pub async fn fires_on_the_original_timer(
    client: &McpClient,
    since: Timestamp,
    restarted_at: chrono::DateTime<chrono::Utc>,
) {
    let fired = wait_for(
        Duration::from_secs(15),
        "the alert after the restart",
        || async { alerts(client, "firing").await.into_iter().next() },
    )
    .await;
    let started =
        chrono::DateTime::parse_from_rfc3339(fired["started_at"].as_str().unwrap()).unwrap();
    let after_pending = started.signed_duration_since(since);
    assert!(
        after_pending >= chrono::Duration::seconds(6)
            && after_pending < chrono::Duration::seconds(8),
        "fired {after_pending} after pending began"
    );
    assert!(
        started < restarted_at + chrono::Duration::seconds(5),
        "the timer continued instead of starting again at the restart"
    );
    assert_eq!(alerts(client, "firing").await.len(), 1, "fired once");
}

pub fn rule(extra: Value) -> Value {
    let mut rule = json!({
        "name": "BTC above 70k",
        "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": "BTC"}, "window": "30s"},
        "condition": {"op": ">", "threshold": 70000},
        "interval": "1s"
    });
    for (k, v) in extra.as_object().unwrap() {
        rule[k] = v.clone();
    }
    rule
}

pub async fn alerts(client: &McpClient, state: &str) -> Vec<Value> {
    client.ok("list_alerts", json!({"state": state})).await["alerts"]
        .as_array()
        .unwrap()
        .clone()
}

async fn builtin_store_fires_and_resolves(backend: Backend) {
    let app = spawn_live_app(backend, &[]).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    write_price(&app, &token, 71_000.0).await;

    let created_at = Instant::now();
    let created = client.ok("create_alert_rule", rule(json!({}))).await;
    let fired = wait_for(Duration::from_secs(10), "the alert", || async {
        alerts(&client, "firing").await.into_iter().next()
    })
    .await;
    let took = created_at.elapsed();
    // interval (1 s) + for (0 s) + 1 s.
    assert!(took <= Duration::from_secs(2), "fired after {took:?}");
    assert_eq!(fired["rule_id"], created["id"]);
    assert_eq!(fired["value"], 71_000.0);
    assert_eq!(fired["labels"], json!({"symbol": "BTC"}));

    assert!(created.get("warnings").is_none(), "{created}");
    let got = client
        .ok("get_alert_rule", json!({"id": created["id"]}))
        .await;
    let health = &got["health"];
    assert_eq!(health["state"], "firing");
    assert!(health["last_error"].is_null());
    assert!(
        got.get("not_evaluated").is_none(),
        "the embedded worker evaluates every rule, without leases: {got}"
    );

    write_price(&app, &token, 69_000.0).await;
    let resolved = wait_for(Duration::from_secs(10), "the resolution", || async {
        alerts(&client, "resolved").await.into_iter().next()
    })
    .await;
    assert_eq!(resolved["id"], fired["id"]);
    assert!(resolved["resolved_at"].is_string());
    assert!(alerts(&client, "firing").await.is_empty());

    // Deleting a rule while it fires resolves its alert: nothing would ever again.
    write_price(&app, &token, 72_000.0).await;
    let refired = wait_for(Duration::from_secs(10), "the second alert", || async {
        alerts(&client, "firing").await.into_iter().next()
    })
    .await;
    client
        .ok("delete_alert_rule", json!({"id": created["id"]}))
        .await;
    assert!(alerts(&client, "firing").await.is_empty());
    let history = client
        .ok("list_alerts", json!({"rule_id": created["id"]}))
        .await;
    assert_eq!(
        history["alerts"].as_array().unwrap().len(),
        2,
        "the history stays"
    );
    assert_eq!(history["alerts"][0]["id"], refired["id"]);
    assert_eq!(history["alerts"][0]["state"], "resolved");
}

/// The whole path on the real clock: a point crosses the threshold, the
/// embedded engine fires, the dispatcher delivers to the channel, and the
/// alert shows the delivery.
async fn a_firing_reaches_the_channel_and_shows_as_delivered(backend: Backend) {
    let app = spawn_live_app(backend, &[]).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let receiver = Receiver::start().await;
    let channel = client
        .ok(
            "create_notification_channel",
            json!({"name": "ops hook", "kind": "webhook", "config": {"url": receiver.url("/hook")}}),
        )
        .await;
    write_price(&app, &token, 71_000.0).await;
    let created = client
        .ok(
            "create_alert_rule",
            rule(json!({"channels": [channel["id"]]})),
        )
        .await;

    let request = wait_for(Duration::from_secs(10), "the webhook", || async {
        receiver.requests().into_iter().next()
    })
    .await;
    let body = request.json();
    assert_eq!(body["type"], "alert.firing");
    assert_eq!(body["data"]["rule_id"], created["id"]);
    let delivered = wait_for(Duration::from_secs(10), "the delivery record", || async {
        let fired = alerts(&client, "firing").await.into_iter().next()?;
        let alert = client.ok("get_alert", json!({"id": fired["id"]})).await;
        (alert["deliveries"][0]["status"] == "delivered").then_some(alert)
    })
    .await;
    let delivery = &delivered["deliveries"][0];
    assert_eq!(delivery["channel_id"], channel["id"]);
    assert_eq!(delivery["event"], "firing");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(body["data"]["alert_id"], delivered["id"]);
    assert_eq!(receiver.requests().len(), 1, "one alert, one notification");

    // Deleting the rule resolves its alert, and the channel hears of it:
    // a receiver that opened an incident must be told to close it.
    client
        .ok("delete_alert_rule", json!({"id": created["id"]}))
        .await;
    let resolution = wait_for(
        Duration::from_secs(10),
        "the resolution webhook",
        || async { receiver.requests().into_iter().nth(1) },
    )
    .await;
    assert_eq!(resolution.json()["type"], "alert.resolved");
    assert_eq!(resolution.json()["data"]["alert_id"], delivered["id"]);
    let alert = client.ok("get_alert", json!({"id": delivered["id"]})).await;
    assert_eq!(alert["state"], "resolved");
    let kinds: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| json!([r.json()["type"], r.header("webhook-id")]))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
}

async fn pending_timer_survives_a_restart(backend: Backend) {
    let first = spawn_live_app(backend, &[]).await;
    let (_, token) = first.user_with_token("a@example.com").await;
    let client = first.client(&token).await;
    write_price(&first, &token, 71_000.0).await;
    let created = client
        .ok("create_alert_rule", rule(json!({"for": "6s"})))
        .await;
    let id = created["id"].clone();

    // Pending, and for long enough that a restarted timer would fire visibly later.
    let since = pending_for_two_seconds(&client, &id).await;
    drop(client);
    let second = spawn_live_replica(&first).await;
    drop(first);
    let restarted_at = chrono::Utc::now();
    let client = second.client(&token).await;

    fires_on_the_original_timer(&client, since, restarted_at).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_source_fires_and_resolves() {
    let influx = influxd::influxd();
    let database = influx.create_database().await;
    influx
        .write(
            &database,
            &format!(
                "crypto,symbol=BTC price=71000 {}",
                chrono::Utc::now().timestamp_millis()
            ),
        )
        .await;
    let app = spawn_live_app(
        Backend::Sqlite,
        &[
            ("MONITORS_INFLUX_URL", influx.url()),
            ("MONITORS_INFLUX_DATABASE", &database),
        ],
    )
    .await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;

    let metrics = client.ok("list_metrics", json!({"prefix": "cry"})).await;
    assert_eq!(metrics["measurements"][0]["name"], "crypto");
    assert_eq!(metrics["measurements"][0]["tags"]["symbol"], json!(["BTC"]));
    let preview = client
        .ok("preview_alert_rule", json!({"rule": rule(json!({}))}))
        .await;
    assert_eq!(preview["now"]["series"][0]["state"], "firing");
    assert_eq!(preview["now"]["series"][0]["value"], 71_000.0);

    let created = client.ok("create_alert_rule", rule(json!({}))).await;
    let fired = wait_for(Duration::from_secs(10), "the alert", || async {
        alerts(&client, "firing").await.into_iter().next()
    })
    .await;
    assert_eq!(fired["rule_id"], created["id"]);
    influx
        .write(
            &database,
            &format!(
                "crypto,symbol=BTC price=60000 {}",
                chrono::Utc::now().timestamp_millis()
            ),
        )
        .await;
    wait_for(Duration::from_secs(10), "the resolution", || async {
        alerts(&client, "resolved").await.into_iter().next()
    })
    .await;
}

async fn backtest_finds_past_episodes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    // Every 30 s for the last 10 minutes: above 70k from minute 8 to minute 5 ago.
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - 10 * 60_000;
    let lines: Vec<String> = (0..20)
        .map(|i| {
            let at = start + i * 30_000;
            let price = if (4..10).contains(&i) { 71_000 } else { 69_000 };
            format!("crypto,symbol=BTC price={price} {at}")
        })
        .collect();
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/write?db=monitors&precision=ms",
            app.addr
        ))
        .bearer_auth(&token)
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let draft = rule(
        json!({"interval": "30s", "metric": {"measurement": "crypto", "field": "price",
        "tags": {"symbol": "BTC"}, "window": "30s"}}),
    );
    let from = chrono::DateTime::from_timestamp_millis(start)
        .unwrap()
        .to_rfc3339();
    let preview = client
        .ok(
            "preview_alert_rule",
            json!({"rule": draft, "backtest": {"from": from}}),
        )
        .await;
    assert_eq!(preview["now"]["series"][0]["state"], "normal");
    assert_eq!(preview["now"]["series"][0]["value"], 69_000.0);
    let backtest = &preview["backtest"];
    assert!(
        backtest["evaluations"].as_i64().unwrap() >= 20,
        "{backtest}"
    );
    let episodes = backtest["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 1, "{backtest}");
    let fired =
        chrono::DateTime::parse_from_rfc3339(episodes[0]["fired_at"].as_str().unwrap()).unwrap();
    let resolved =
        chrono::DateTime::parse_from_rfc3339(episodes[0]["resolved_at"].as_str().unwrap()).unwrap();
    assert_eq!(episodes[0]["value"], 71_000.0);
    // Six high points 30 s apart: firing for about three minutes.
    let lasted = resolved.signed_duration_since(fired).num_seconds();
    assert!((150..=210).contains(&lasted), "lasted {lasted} s");
    // Nothing was stored by the preview.
    assert_eq!(
        client.ok("list_alert_rules", json!({})).await["rules"],
        json!([])
    );
    assert!(alerts(&client, "firing").await.is_empty());

    let error = client
        .refused(
            "preview_alert_rule",
            json!({"rule": rule(json!({})), "backtest": {"from": "2020-01-01T00:00:00Z"}}),
        )
        .await;
    assert!(
        error
            .message
            .starts_with("backtest: covers more than 1000 evaluations"),
        "{}",
        error.message
    );
}
