use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use shared_models::{
    entity::alert,
    ids::{AlertId, RuleId, UserId},
    time::{format_millis, to_millis},
};

use crate::support::{Backend, TestApp, minimal_rule, on_both_backends, spawn_app};

on_both_backends!(
    list_filters_and_paginates,
    acknowledge_is_idempotent_and_tenant_scoped
);

/// Alerts are written by the evaluation engine; these tests put rows in the
/// table directly, the way the engine does, to exercise the read side.
async fn record_alert(
    app: &TestApp,
    owner: UserId,
    rule_id: &str,
    state: &str,
    started_at: i64,
) -> String {
    let id = AlertId::generate().to_string();
    alert::ActiveModel {
        id: Set(id.clone()),
        owner_id: Set(owner.to_string()),
        rule_id: Set(rule_id.to_owned()),
        rule_name: Set("BTC above 70k".to_owned()),
        state: Set(state.to_owned()),
        severity: Set("critical".to_owned()),
        series_key: Set("symbol=BTC".to_owned()),
        labels: Set(r#"{"symbol":"BTC"}"#.to_owned()),
        value: Set(Some(70_123.5)),
        threshold: Set(Some(70_000.0)),
        message: Set("BTC above 70k: price is 70123.5".to_owned()),
        started_at: Set(started_at),
        resolved_at: Set((state == "resolved").then_some(started_at + 60_000)),
        acknowledged_at: Set(None),
        acknowledged_by: Set(None),
    }
    .insert(app.store.db())
    .await
    .expect("insert alert");
    id
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
        let state = if i < 2 { "resolved" } else { "firing" };
        ids.push(record_alert(&app, owner, rule_id, state, base + i * 3_600_000).await);
    }
    // Two alerts starting in the same millisecond still page deterministically.
    ids.push(record_alert(&app, owner, &other_rule, "firing", base + 4 * 3_600_000).await);

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
        .rpc_error("list_alerts", json!({"since": "yesterday"}))
        .await;
    assert!(error.message.starts_with("since: "), "{}", error.message);
    let error = client
        .rpc_error("list_alerts", json!({"state": "exploded"}))
        .await;
    assert!(
        error
            .message
            .starts_with("state: unknown variant `exploded`"),
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
        "firing",
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
    assert!(
        acked["acknowledged_by"]
            .as_str()
            .unwrap()
            .starts_with("token:")
    );
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
