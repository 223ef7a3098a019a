use serde_json::json;
use shared_models::{ids::RuleId, shard::shard_of};

use crate::support::{Backend, minimal_rule, on_both_backends, spawn_app, stored};

on_both_backends!(
    create_fills_defaults_and_get_returns_it,
    list_paginates_newest_first_with_filters,
    update_merges_pauses_and_resumes,
    delete_removes_the_rule,
    another_user_sees_not_found,
);

async fn create_fills_defaults_and_get_returns_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;

    let created = client
        .ok("create_alert_rule", minimal_rule("BTC above 70k"))
        .await;
    let id = created["id"].as_str().expect("id is returned").to_owned();
    assert_eq!(created["name"], "BTC above 70k");
    assert_eq!(created["metric"]["aggregation"], "last");
    assert_eq!(created["metric"]["window"], "5m");
    assert_eq!(created["metric"]["tags"]["symbol"], "BTC");
    assert_eq!(created["condition"]["op"], ">");
    assert_eq!(created["condition"]["threshold"], 70000.0);
    assert_eq!(created["for"], "0s");
    assert_eq!(created["severity"], "warning");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["version"], 1);
    let rule_id: RuleId = id.parse().unwrap();
    assert_eq!(created["shard"], shard_of(&rule_id, 256));

    let fetched = client.ok("get_alert_rule", json!({"id": id})).await;
    // Saving says the metric has no points yet; getting, that no worker
    // runs here (this gateway has no embedded one). The rest is the same.
    assert!(
        created["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("metric.measurement:")
    );
    assert_eq!(fetched["not_evaluated"], "no_worker");
    assert_eq!(stored(fetched), stored(created));

    let full = client
        .ok(
            "create_alert_rule",
            json!({
                "name": "ETH dip",
                "description": "ETH mean below 2k",
                "metric": {"measurement": "crypto", "field": "price", "tags": {"symbol": "ETH"},
                           "database": "markets", "aggregation": "mean", "window": "15m", "group_by": ["venue"]},
                "condition": {"op": "<", "threshold": 2000, "recovery_threshold": 2100},
                "interval": "1m", "for": "5m", "severity": "critical",
                "labels": {"team": "trading"}, "annotations": {"summary": "{{rule.name}} at {{value}}"},
                "enabled": false
            }),
        )
        .await;
    assert_eq!(full["metric"]["group_by"], json!(["venue"]));
    assert_eq!(full["condition"]["recovery_threshold"], 2100.0);
    assert_eq!(full["for"], "5m");
    assert_eq!(full["enabled"], false);
    assert_eq!(full["annotations"]["summary"], "{{rule.name}} at {{value}}");
}

async fn list_paginates_newest_first_with_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let mut rule = minimal_rule(&format!("rule {i}"));
        if i % 2 == 0 {
            rule["severity"] = json!("critical");
        }
        if i == 3 {
            rule["enabled"] = json!(false);
        }
        created.push(
            client.ok("create_alert_rule", rule).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 3});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = client.ok("list_alert_rules", args).await;
        pages += 1;
        seen.extend(
            page["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page.get("next_cursor").and_then(|c| c.as_str()) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let critical = client
        .ok("list_alert_rules", json!({"severity": "critical"}))
        .await;
    assert_eq!(critical["rules"].as_array().unwrap().len(), 4);
    let paused = client
        .ok("list_alert_rules", json!({"enabled": false}))
        .await;
    assert_eq!(paused["rules"][0]["name"], "rule 3");
    assert_eq!(paused["rules"].as_array().unwrap().len(), 1);
    let named = client
        .ok("list_alert_rules", json!({"name_contains": "rule 5"}))
        .await;
    assert_eq!(named["rules"].as_array().unwrap().len(), 1);
    assert!(named.get("next_cursor").is_none());
}

async fn update_merges_pauses_and_resumes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let mut rule = minimal_rule("BTC above 70k");
    rule["labels"] = json!({"team": "a", "env": "prod"});
    let id = client.ok("create_alert_rule", rule).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let updated = client
        .ok(
            "update_alert_rule",
            json!({"id": id, "condition": {"threshold": 80000}, "labels": {"env": null}, "enabled": false}),
        )
        .await;
    assert_eq!(updated["condition"]["threshold"], 80000.0);
    assert_eq!(updated["condition"]["op"], ">");
    assert_eq!(updated["metric"]["tags"]["symbol"], "BTC");
    assert_eq!(updated["labels"], json!({"team": "a"}));
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["version"], 2);
    let paused = client
        .ok("list_alert_rules", json!({"enabled": false}))
        .await;
    assert_eq!(paused["rules"][0]["id"], id);

    let resumed = client
        .ok("update_alert_rule", json!({"id": id, "enabled": true}))
        .await;
    assert_eq!(resumed["enabled"], true);
    assert_eq!(resumed["version"], 3);

    // A refused update leaves the stored rule exactly as it was.
    let error = client
        .refused("update_alert_rule", json!({"id": id, "interval": "0s"}))
        .await;
    assert_eq!(error.message, "interval: must be at least 1s");
    let error = client
        .refused(
            "update_alert_rule",
            json!({"id": id, "condition": {"op": "~"}}),
        )
        .await;
    assert!(
        error.message.starts_with("condition.op: must be one of"),
        "{}",
        error.message
    );
    assert_eq!(
        stored(client.ok("get_alert_rule", json!({"id": id})).await),
        stored(resumed)
    );
}

async fn delete_removes_the_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let id = client.ok("create_alert_rule", minimal_rule("r")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let deleted = client.ok("delete_alert_rule", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let message = client.tool_error("get_alert_rule", json!({"id": id})).await;
    assert_eq!(message, format!("alert rule {id} not found"));
    let message = client
        .tool_error("delete_alert_rule", json!({"id": id}))
        .await;
    assert_eq!(message, format!("alert rule {id} not found"));
    let listed = client.ok("list_alert_rules", json!({})).await;
    assert_eq!(listed["rules"], json!([]));
}

async fn another_user_sees_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token_a) = app.user_with_token("a@example.com").await;
    let (_, token_b) = app.user_with_token("b@example.com").await;
    let alice = app.client(&token_a).await;
    let bob = app.client(&token_b).await;
    let rule = alice
        .ok("create_alert_rule", minimal_rule("alice's rule"))
        .await;
    let id = rule["id"].as_str().unwrap();

    let expected = format!("alert rule {id} not found");
    assert_eq!(
        bob.tool_error("get_alert_rule", json!({"id": id})).await,
        expected
    );
    assert_eq!(
        bob.tool_error("update_alert_rule", json!({"id": id, "name": "mine now"}))
            .await,
        expected
    );
    assert_eq!(
        bob.tool_error("delete_alert_rule", json!({"id": id})).await,
        expected
    );
    assert_eq!(
        bob.ok("list_alert_rules", json!({})).await["rules"],
        json!([])
    );
    // An id that never existed reads the same as another user's.
    let unknown = RuleId::generate().to_string();
    assert_eq!(
        bob.tool_error("get_alert_rule", json!({"id": unknown}))
            .await,
        format!("alert rule {unknown} not found")
    );

    assert_eq!(
        stored(alice.ok("get_alert_rule", json!({"id": id})).await),
        stored(rule)
    );
}
