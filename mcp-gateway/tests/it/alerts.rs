use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use shared_models::{
    entity::{alert, notification},
    ids::{AlertId, ChannelId, NotificationId, RuleId, UserId},
    rule::{AlertState, Severity},
    shard::Shard,
    time::{Timestamp, format_millis, to_millis},
};

use crate::support::{Backend, TestApp, minimal_rule, on_both_backends, spawn_app};

on_both_backends!(
    list_filters_and_paginates,
    acknowledge_is_idempotent_and_tenant_scoped,
    deliveries_show_per_channel_and_stay_tenant_scoped,
);

/// Alerts are written by the evaluation engine; these tests put rows in the
/// table directly, the way the engine does, to exercise the read side.
async fn record_alert(
    app: &TestApp,
    owner: UserId,
    rule_id: &str,
    state: AlertState,
    started_at: i64,
) -> String {
    let id = AlertId::generate();
    alert::ActiveModel {
        id: Set(id),
        owner_id: Set(owner.to_string()),
        rule_id: Set(rule_id.parse().unwrap()),
        rule_name: Set("BTC above 70k".to_owned()),
        state: Set(state),
        severity: Set(Severity::Critical),
        series_key: Set("symbol=BTC".to_owned()),
        labels: Set(r#"{"symbol":"BTC"}"#.to_owned()),
        value: Set(Some(70_123.5)),
        threshold: Set(Some(70_000.0)),
        message: Set("BTC above 70k: price is 70123.5".to_owned()),
        started_at: Set(Timestamp::from_millis(started_at)),
        resolved_at: Set(
            (state == AlertState::Resolved).then_some(Timestamp::from_millis(started_at + 60_000))
        ),
        acknowledged_at: Set(None),
        acknowledged_by: Set(None),
    }
    .insert(app.store.db())
    .await
    .expect("insert alert");
    id.to_string()
}

async fn list_filters_and_paginates(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let rule = client
        .ok("create_alert_rule", minimal_rule("BTC above 70k"))
        .await;
    let rule_id = rule["id"].as_str().unwrap();
    let other_rule = RuleId::generate().to_string();
    let base = to_millis(Utc::now() - Duration::hours(10));
    let mut ids = Vec::new();
    for i in 0..5 {
        let state = if i < 2 {
            AlertState::Resolved
        } else {
            AlertState::Firing
        };
        ids.push(record_alert(&app, owner, rule_id, state, base + i * 3_600_000).await);
    }
    // Two alerts starting in the same millisecond still page deterministically.
    ids.push(
        record_alert(
            &app,
            owner,
            &other_rule,
            AlertState::Firing,
            base + 4 * 3_600_000,
        )
        .await,
    );

    let all = client.ok("list_alerts", json!({})).await;
    let alerts = all["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 6);
    assert_eq!(alerts[0]["labels"], json!({"symbol": "BTC"}));
    assert_eq!(alerts[0]["value"], 70_123.5);
    assert_eq!(alerts[0]["severity"], "critical");
    assert_eq!(alerts[5]["id"], ids[0]);
    assert_eq!(alerts[5]["state"], "resolved");
    assert_eq!(alerts[5]["resolved_at"], format_millis(base + 60_000));

    let mut paged = Vec::new();
    let mut cursor = None::<String>;
    loop {
        let mut args = json!({"limit": 4});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = client.ok("list_alerts", args).await;
        paged.extend(
            page["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].clone()),
        );
        match page.get("next_cursor").and_then(|c| c.as_str()) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unpaged: Vec<_> = alerts.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(paged, unpaged);

    let firing = client.ok("list_alerts", json!({"state": "firing"})).await;
    assert_eq!(firing["alerts"].as_array().unwrap().len(), 4);
    let for_rule = client.ok("list_alerts", json!({"rule_id": rule_id})).await;
    assert_eq!(for_rule["alerts"].as_array().unwrap().len(), 5);
    let since = format_millis(base + 3 * 3_600_000);
    let recent = client.ok("list_alerts", json!({"since": since})).await;
    assert_eq!(recent["alerts"].as_array().unwrap().len(), 3);
    let error = client
        .refused("list_alerts", json!({"since": "yesterday"}))
        .await;
    assert!(error.message.starts_with("since: "), "{}", error.message);
    let error = client
        .refused("list_alerts", json!({"state": "exploded"}))
        .await;
    assert!(
        error
            .message
            .starts_with(r#"state: must be one of "firing", "resolved"; got "exploded""#),
        "{}",
        error.message
    );
}

async fn acknowledge_is_idempotent_and_tenant_scoped(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, token_a) = app.user_with_token("a@example.com").await;
    let (_, token_b) = app.user_with_token("b@example.com").await;
    let a = app.client(&token_a).await;
    let b = app.client(&token_b).await;
    let id = record_alert(
        &app,
        alice,
        &RuleId::generate().to_string(),
        AlertState::Firing,
        to_millis(Utc::now()),
    )
    .await;

    assert_eq!(b.ok("list_alerts", json!({})).await["alerts"], json!([]));
    assert_eq!(
        b.tool_error("acknowledge_alert", json!({"id": id})).await,
        format!("alert {id} not found")
    );
    let unacked = a.ok("list_alerts", json!({"acknowledged": false})).await;
    assert_eq!(unacked["alerts"][0]["id"], id);

    let acked = a.ok("acknowledge_alert", json!({"id": id})).await;
    let first_ack = acked["acknowledged_at"]
        .as_str()
        .expect("acknowledged_at set")
        .to_owned();
    assert_eq!(acked["acknowledged_by"], "a@example.com");
    app.clock().advance(Duration::minutes(5));
    let again = a.ok("acknowledge_alert", json!({"id": id})).await;
    assert_eq!(again["acknowledged_at"], first_ack);
    assert_eq!(
        a.ok("list_alerts", json!({"acknowledged": true})).await["alerts"][0]["id"],
        id
    );
    assert_eq!(
        a.ok("list_alerts", json!({"acknowledged": false})).await["alerts"],
        json!([])
    );
}

/// Where one outbox row stands, as the dispatcher leaves it.
struct Outcome<'a> {
    status: &'a str,
    attempts: i32,
    response_status: Option<i32>,
    last_error: Option<&'a str>,
    delivered_at: Option<i64>,
    reason: Option<&'a str>,
}

/// An outbox row as the engine writes it and the dispatcher updates it.
async fn record_notification(
    app: &TestApp,
    owner: UserId,
    alert_id: &str,
    channel_id: &str,
    event: &str,
    outcome: Outcome<'_>,
) {
    let id = NotificationId::generate().to_string();
    let now = Timestamp::from(Utc::now());
    notification::ActiveModel {
        id: Set(id.clone()),
        owner_id: Set(owner.to_string()),
        alert_id: Set(alert_id.to_owned()),
        rule_id: Set(RuleId::generate().to_string()),
        channel_id: Set(channel_id.to_owned()),
        shard: Set(Shard::FIRST),
        event: Set(event.to_owned()),
        idempotency_key: Set(format!("{alert_id}:{event}:{channel_id}:{id}")),
        status: Set(outcome.status.to_owned()),
        reason: Set(outcome.reason.map(str::to_owned)),
        attempts: Set(outcome.attempts),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        claim_token: Set(None),
        response_status: Set(outcome.response_status),
        last_error: Set(outcome.last_error.map(str::to_owned)),
        payload: Set("{}".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(outcome.delivered_at.map(Timestamp::from_millis)),
    }
    .insert(app.store.db())
    .await
    .expect("insert notification");
}

async fn deliveries_show_per_channel_and_stay_tenant_scoped(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, token_a) = app.user_with_token("a@example.com").await;
    let (bob, token_b) = app.user_with_token("b@example.com").await;
    let a = app.client(&token_a).await;
    let b = app.client(&token_b).await;
    let rule = RuleId::generate().to_string();
    let started = to_millis(Utc::now() - Duration::hours(1));
    let firing = record_alert(&app, alice, &rule, AlertState::Firing, started).await;
    let quiet = record_alert(&app, alice, &rule, AlertState::Resolved, started - 1).await;
    let (slack, hook) = (
        ChannelId::generate().to_string(),
        ChannelId::generate().to_string(),
    );
    let delivered_at = started + 1_500;
    record_notification(
        &app,
        alice,
        &firing,
        &slack,
        "firing",
        Outcome {
            status: "delivered",
            attempts: 1,
            response_status: Some(200),
            last_error: None,
            delivered_at: Some(delivered_at),
            reason: None,
        },
    )
    .await;
    record_notification(
        &app,
        alice,
        &firing,
        &hook,
        "firing",
        Outcome {
            status: "failed",
            attempts: 12,
            response_status: Some(500),
            last_error: Some("the receiver answered 500"),
            delivered_at: None,
            reason: None,
        },
    )
    .await;
    record_notification(
        &app,
        alice,
        &quiet,
        &slack,
        "resolved",
        Outcome {
            status: "silenced",
            attempts: 0,
            response_status: None,
            last_error: None,
            delivered_at: None,
            reason: Some("silence 0193 (maintenance)"),
        },
    )
    .await;
    // Another tenant's row never shows on this tenant's alert.
    record_notification(
        &app,
        bob,
        &firing,
        &slack,
        "repeat",
        Outcome {
            status: "pending",
            attempts: 0,
            response_status: None,
            last_error: None,
            delivered_at: None,
            reason: None,
        },
    )
    .await;

    let expected_firing = json!([
        {"channel_id": slack, "event": "firing", "status": "delivered", "attempts": 1,
         "response_status": 200, "delivered_at": format_millis(delivered_at)},
        {"channel_id": hook, "event": "firing", "status": "failed", "attempts": 12,
         "response_status": 500, "last_error": "the receiver answered 500"},
    ]);
    let got = a.ok("get_alert", json!({"id": firing})).await;
    assert_eq!(got["id"], firing);
    assert_eq!(got["state"], "firing");
    assert_eq!(got["deliveries"], expected_firing);

    let listed = a.ok("list_alerts", json!({})).await;
    assert_eq!(listed["alerts"][0]["id"], firing);
    assert_eq!(listed["alerts"][0]["deliveries"], expected_firing);
    assert_eq!(
        listed["alerts"][1]["deliveries"],
        json!([{"channel_id": slack, "event": "resolved", "status": "silenced", "attempts": 0,
                "reason": "silence 0193 (maintenance)"}])
    );

    assert_eq!(
        b.tool_error("get_alert", json!({"id": firing})).await,
        format!("alert {firing} not found")
    );
    let error = a.refused("get_alert", json!({"id": "latest"})).await;
    assert!(
        error.message.starts_with("id: must be a"),
        "{}",
        error.message
    );
}
