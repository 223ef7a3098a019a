//! The engine end to end on a real database (SQLite here; the gateway's
//! suite covers MariaDB through MCP), fed by the built-in store, with time
//! passed in explicitly: no sleeping.

use crate::testing::fixture::{fixture, t, ts};
use sea_orm::EntityTrait;
use serde_json::json;
use shared_models::entity::{alert_rule, rule_status};

#[tokio::test]
async fn fires_once_and_resolves_with_an_alert_record() {
    let f = fixture().await;
    let rule = f.rule(json!({})).await;
    let mut engine = f.engine();
    engine.refresh().await.unwrap();

    f.point("BTC", t(-1), 69_000.0).await;
    let report = engine.evaluate_due(ts(5)).await.unwrap();
    assert_eq!(report.rules, 1);
    assert!(f.alerts().await.is_empty());

    f.point("BTC", t(9), 70_500.0).await;
    let report = engine.evaluate_due(ts(15)).await.unwrap();
    assert_eq!(report.persisted.fired, 1);
    // Still above on the next tick: no second alert.
    engine.evaluate_due(ts(25)).await.unwrap();
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 1);
    let fired = &alerts[0];
    assert_eq!(fired.state.as_str(), "firing");
    assert_eq!(fired.rule_id, rule);
    assert_eq!(fired.value, Some(70_500.0));
    assert_eq!(fired.threshold, Some(70_000.0));
    assert_eq!(fired.started_at, ts(10), "evaluated on the aligned tick");
    assert_eq!(fired.message, "BTC above 70k: BTC 70500");
    assert_eq!(
        fired.labels, r#"{"symbol":"BTC"}"#,
        "the rule's tag filters label the alert"
    );

    f.point("BTC", t(29), 69_500.0).await;
    let report = engine.evaluate_due(ts(35)).await.unwrap();
    assert_eq!(report.persisted.resolved, 1);
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state.as_str(), "resolved");
    assert_eq!(alerts[0].resolved_at, Some(ts(30)));

    let status = rule_status::Entity::find_by_id(rule)
        .one(&f.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, "normal");
    assert_eq!(status.last_evaluated_at, ts(30));
    assert!(status.last_error.is_none());
}

#[tokio::test]
async fn a_new_engine_continues_the_pending_timer() {
    let f = fixture().await;
    let rule = f.rule(json!({"for": "30s"})).await;
    let mut first = f.engine();
    first.refresh().await.unwrap();
    f.point("BTC", t(-1), 71_000.0).await;
    first.evaluate_due(ts(5)).await.unwrap();
    first.evaluate_due(ts(15)).await.unwrap();
    let states = f.state_of(rule).await;
    assert_eq!(states[0].state, "pending");
    assert_eq!(states[0].pending_since, Some(ts(0)));
    drop(first);

    // The process restarts 10 s later: the timer runs from t(0), not from now.
    let mut second = f.engine();
    second.refresh().await.unwrap();
    f.point("BTC", t(19), 71_500.0).await;
    second.evaluate_due(ts(25)).await.unwrap();
    assert!(f.alerts().await.is_empty(), "20 s of 30 s elapsed");
    f.point("BTC", t(29), 71_500.0).await;
    second.evaluate_due(ts(35)).await.unwrap();
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].started_at, ts(30));
}

#[tokio::test]
async fn group_by_gives_one_alert_per_series() {
    let f = fixture().await;
    f.rule(json!({"metric": {"measurement": "crypto", "field": "price", "window": "1m", "group_by": ["symbol"]}}))
        .await;
    let mut engine = f.engine();
    engine.refresh().await.unwrap();
    f.point("BTC", t(-1), 71_000.0).await;
    f.point("ETH", t(-1), 3_000.0).await;
    f.point("SOL", t(-1), 80_000.0).await;
    engine.evaluate_due(ts(5)).await.unwrap();
    let alerts = f.alerts().await;
    let mut fired: Vec<String> = alerts.iter().map(|a| a.labels.clone()).collect();
    fired.sort();
    assert_eq!(fired, vec![r#"{"symbol":"BTC"}"#, r#"{"symbol":"SOL"}"#]);
}

#[tokio::test]
async fn no_data_holds_a_firing_alert_and_absence_fires() {
    let f = fixture().await;
    let held = f.rule(json!({})).await;
    let dead_man = f
        .rule(json!({"name": "BTC feed stalled", "condition": {"kind": "absence"}}))
        .await;
    let mut engine = f.engine();
    engine.refresh().await.unwrap();
    f.point("BTC", t(-1), 71_000.0).await;
    engine.evaluate_due(ts(5)).await.unwrap();
    assert_eq!(f.alerts().await.len(), 1);

    // No point within the 1 m window any more.
    engine.evaluate_due(ts(75)).await.unwrap();
    let states = f.state_of(held).await;
    assert_eq!(states[0].state, "no_data");
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 2);
    assert!(
        alerts
            .iter()
            .any(|a| a.rule_id == held && a.state.as_str() == "firing"),
        "not falsely resolved"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a.rule_id == dead_man && a.state.as_str() == "firing")
    );
}

#[tokio::test]
async fn overdue_ticks_do_not_stack() {
    let f = fixture().await;
    f.rule(json!({})).await;
    let mut engine = f.engine();
    engine.refresh().await.unwrap();
    assert_eq!(engine.evaluate_due(ts(5)).await.unwrap().rules, 1);
    // Five intervals late: one evaluation, not five.
    assert_eq!(engine.evaluate_due(ts(58)).await.unwrap().rules, 1);
    assert_eq!(engine.evaluate_due(ts(59)).await.unwrap().rules, 0);
    assert_eq!(engine.evaluate_due(ts(60)).await.unwrap().rules, 1);
}

/// A rule deleted after the engine loaded it, before the engine's next
/// refresh: its evaluation writes nothing, neither an alert nor state that
/// would bring it back as a ghost.
#[tokio::test]
async fn a_rule_deleted_under_the_engine_writes_nothing() {
    let f = fixture().await;
    let rule = f.rule(json!({})).await;
    let mut engine = f.engine();
    engine.refresh().await.unwrap();
    f.point("BTC", t(1), 71_000.0).await;
    alert_rule::Entity::delete_by_id(rule)
        .exec(&f.db)
        .await
        .unwrap();

    let report = engine.evaluate_due(ts(10)).await.unwrap();
    assert_eq!(report.rules, 1, "still loaded, so still evaluated");
    assert_eq!(report.persisted.fired, 0);
    assert!(f.alerts().await.is_empty());
    assert!(f.state_of(rule).await.is_empty());
}
