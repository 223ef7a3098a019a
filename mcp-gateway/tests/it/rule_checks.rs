//! A rule that cannot fire says so: saving or previewing one that would
//! read no points names the argument at fault and what exists nearby, and
//! get/list tell a rule not evaluated yet from one no worker evaluates.

use alert_worker::testing::Leases;
use serde_json::{Value, json};
use shared_models::{ids::RuleId, shard::Shard, time::Clock};

use crate::{
    evaluation::write_price,
    support::{Backend, McpClient, minimal_rule, on_both_backends, spawn_app},
};

on_both_backends!(
    a_rule_on_missing_data_is_saved_with_a_warning_naming_what_exists,
    rules_no_worker_evaluates_are_told_from_rules_not_evaluated_yet,
);

/// `minimal_rule` with its metric changed by `metric`, merged.
fn rule_on(name: &str, metric: Value) -> Value {
    let mut rule = minimal_rule(name);
    for (key, value) in metric.as_object().unwrap() {
        rule["metric"][key] = value.clone();
    }
    rule
}

async fn warnings(client: &McpClient, tool: &str, args: Value) -> Vec<String> {
    let result = client.ok(tool, args).await;
    serde_json::from_value(result["warnings"].clone()).unwrap_or_default()
}

async fn a_rule_on_missing_data_is_saved_with_a_warning_naming_what_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    write_price(&app, &token, 65_000.0).await;

    // What minimal_rule watches exists: nothing to say.
    assert!(
        warnings(&client, "create_alert_rule", minimal_rule("right"))
            .await
            .is_empty()
    );

    let cases = [
        (
            json!({"measurement": "cryptp"}),
            r#"metric.measurement: the default database has no measurement "cryptp"; the nearest are: "crypto""#,
        ),
        (
            json!({"field": "prise"}),
            r#"metric.field: measurement "crypto" has no field "prise"; its fields: "price""#,
        ),
        (
            json!({"tags": {"symbol": "BTX"}}),
            r#"metric.tags.symbol: no series of "crypto" has symbol="BTX"; the values of symbol: "BTC""#,
        ),
        (
            json!({"tags": {"coin": "BTC"}}),
            r#"metric.tags.coin: measurement "crypto" has no tag "coin"; its tags: "symbol""#,
        ),
    ];
    for (metric, expected) in &cases {
        let rule = rule_on("misspelt", metric.clone());
        let saved = client.ok("create_alert_rule", rule.clone()).await;
        assert_eq!(saved["warnings"], json!([expected]), "{metric}");
        assert!(saved["id"].is_string(), "the rule is saved all the same");
        assert_eq!(
            warnings(&client, "preview_alert_rule", json!({"rule": rule})).await,
            [*expected],
            "{metric}"
        );
    }

    // Changing a good rule to a wrong name warns too.
    let id = client
        .ok("create_alert_rule", minimal_rule("to change"))
        .await["id"]
        .clone();
    let changed = client
        .ok(
            "update_alert_rule",
            json!({"id": id, "metric": {"measurement": "cryptp"}}),
        )
        .await;
    assert_eq!(changed["warnings"].as_array().map(Vec::len), Some(1));

    // Right names, but nothing in the window: the window is named. An
    // absence rule fires on exactly that, so it is not warned about.
    app.clock().advance(chrono::Duration::hours(1));
    let quiet = warnings(&client, "create_alert_rule", minimal_rule("quiet")).await;
    assert_eq!(quiet.len(), 1);
    assert!(
        quiet[0].starts_with(
            r#"metric.window: "crypto"."price" with these tags has no points in the last 5m"#
        ),
        "{quiet:?}"
    );
    let mut absence = minimal_rule("dead man's switch");
    absence["condition"] = json!({"kind": "absence"});
    assert!(
        warnings(&client, "create_alert_rule", absence)
            .await
            .is_empty()
    );

    // Another user's data is not evidence for this user's rule.
    let (_, other) = app.user_with_token("b@example.com").await;
    let other = app.client(&other).await;
    let lonely = warnings(&other, "create_alert_rule", minimal_rule("no data of mine")).await;
    assert_eq!(
        lonely,
        [
            r#"metric.measurement: the default database has no measurements at all yet, so the rule stays no_data until points of "crypto" are written"#
        ]
    );
}

async fn rules_no_worker_evaluates_are_told_from_rules_not_evaluated_yet(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let rule = client
        .ok("create_alert_rule", minimal_rule("watched"))
        .await;
    let id = rule["id"].clone();
    let mut paused = minimal_rule("paused");
    paused["enabled"] = json!(false);
    let paused = client.ok("create_alert_rule", paused).await["id"].clone();

    let not_evaluated = async |client: &McpClient| {
        let got = client.ok("get_alert_rule", json!({"id": id})).await["not_evaluated"].clone();
        let listed = client.ok("list_alert_rules", json!({})).await["rules"].clone();
        let of = |rule: &Value| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == *rule)
                .unwrap()["not_evaluated"]
                .clone()
        };
        assert_eq!(
            of(&paused),
            Value::Null,
            "a paused rule is not expected to be evaluated"
        );
        assert_eq!(of(&id), got, "get and list agree");
        got
    };

    // No worker runs (this gateway has no embedded one): nothing holds the
    // rule's shard.
    assert_eq!(not_evaluated(&client).await, "no_worker");

    // A worker takes the shard's lease, as the fleet does.
    let shard = Shard::of(&id.as_str().unwrap().parse::<RuleId>().unwrap(), 256);
    let worker = Leases::new(
        app.store.db().clone(),
        "worker-1".to_owned(),
        std::time::Duration::from_secs(30),
    );
    worker.ensure_rows(256).await.unwrap();
    assert!(
        worker
            .claim(shard, app.clock().now())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(not_evaluated(&client).await, "not_yet");

    // The worker stops renewing: once the lease lapses, no one evaluates it.
    app.clock().advance(chrono::Duration::seconds(31));
    assert_eq!(not_evaluated(&client).await, "no_worker");
}
