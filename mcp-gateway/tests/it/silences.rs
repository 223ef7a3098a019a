use chrono::{Duration, Utc};
use serde_json::json;
use shared_models::time::{Clock, format_millis};

use crate::support::{Backend, minimal_rule, on_both_backends, spawn_app};

on_both_backends!(
    create_list_and_delete,
    expired_silences_are_listed_only_on_request,
    another_users_rules_and_silences_are_not_found,
    bad_input_names_the_field,
);

async fn create_list_and_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let rule = client
        .ok("create_alert_rule", minimal_rule("BTC above 70k"))
        .await;
    let now = app.clock().now().as_millis();

    let by_rule = client
        .ok(
            "create_silence",
            json!({"rule_id": rule["id"], "duration": "2h", "comment": " exchange maintenance "}),
        )
        .await;
    assert_eq!(by_rule["rule_id"], rule["id"]);
    assert_eq!(by_rule["matchers"], json!({}));
    assert_eq!(by_rule["comment"], "exchange maintenance");
    assert_eq!(by_rule["state"], "active");
    assert_eq!(by_rule["starts_at"], format_millis(now));
    assert_eq!(by_rule["ends_at"], format_millis(now + 2 * 3_600_000));
    assert_eq!(by_rule["created_by"], "a@example.com");

    let later = Utc::now() + Duration::days(1);
    let by_labels = client
        .ok(
            "create_silence",
            json!({"matchers": {"symbol": "BTC", "venue": "x"},
                   "starts_at": later.to_rfc3339(), "ends_at": (later + Duration::hours(1)).to_rfc3339(),
                   "comment": "planned"}),
        )
        .await;
    assert!(by_labels.get("rule_id").is_none(), "{by_labels}");
    assert_eq!(
        by_labels["matchers"],
        json!({"symbol": "BTC", "venue": "x"})
    );
    assert_eq!(by_labels["state"], "pending");

    let listed = client.ok("list_silences", json!({})).await;
    let ids: Vec<_> = listed["silences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [by_labels["id"].clone(), by_rule["id"].clone()],
        "newest first"
    );
    let page = client.ok("list_silences", json!({"limit": 1})).await;
    let next = client
        .ok(
            "list_silences",
            json!({"limit": 1, "cursor": page["next_cursor"]}),
        )
        .await;
    assert_eq!(next["silences"][0]["id"], by_rule["id"]);

    let deleted = client
        .ok("delete_silence", json!({"id": by_rule["id"]}))
        .await;
    assert_eq!(deleted, json!({"id": by_rule["id"], "deleted": true}));
    let listed = client
        .ok("list_silences", json!({"include_expired": true}))
        .await;
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1);
    let again = client
        .tool_error("delete_silence", json!({"id": by_rule["id"]}))
        .await;
    assert_eq!(
        again,
        format!("silence {} not found", by_rule["id"].as_str().unwrap())
    );
}

async fn expired_silences_are_listed_only_on_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let silence = client
        .ok(
            "create_silence",
            json!({"matchers": {"team": "trading"}, "duration": "30m", "comment": "deploy"}),
        )
        .await;
    app.clock().advance(Duration::minutes(31));
    assert_eq!(
        client.ok("list_silences", json!({})).await["silences"],
        json!([])
    );
    let all = client
        .ok("list_silences", json!({"include_expired": true}))
        .await;
    assert_eq!(all["silences"][0]["id"], silence["id"]);
    assert_eq!(all["silences"][0]["state"], "expired");
}

async fn another_users_rules_and_silences_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token_a) = app.user_with_token("a@example.com").await;
    let (_, token_b) = app.user_with_token("b@example.com").await;
    let a = app.client(&token_a).await;
    let b = app.client(&token_b).await;
    let rule = a.ok("create_alert_rule", minimal_rule("A's rule")).await;
    let rule_id = rule["id"].as_str().unwrap();
    let silence = a
        .ok(
            "create_silence",
            json!({"rule_id": rule_id, "duration": "1h", "comment": "mine"}),
        )
        .await;
    let silence_id = silence["id"].as_str().unwrap();

    assert_eq!(
        b.tool_error(
            "create_silence",
            json!({"rule_id": rule_id, "duration": "1h", "comment": "theirs"})
        )
        .await,
        format!("alert rule {rule_id} not found")
    );
    assert_eq!(
        b.ok("list_silences", json!({"include_expired": true}))
            .await["silences"],
        json!([])
    );
    assert_eq!(
        b.tool_error("delete_silence", json!({"id": silence_id}))
            .await,
        format!("silence {silence_id} not found")
    );
    assert_eq!(
        a.ok("list_silences", json!({})).await["silences"][0]["id"],
        silence_id
    );
}

async fn bad_input_names_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let cases = [
        (
            json!({"matchers": {"a": "b"}, "duration": "1h"}),
            "comment: required",
        ),
        (
            json!({"matchers": {"a": "b"}, "duration": "1h", "comment": "  "}),
            "comment: is required",
        ),
        (
            json!({"duration": "1h", "comment": "c"}),
            "matchers: give rule_id, matchers, or both",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c"}),
            "ends_at: is required",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "duration": "1h", "ends_at": "2099-01-01T00:00:00Z"}),
            "duration: give either ends_at or duration, not both",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "duration": "soon"}),
            "duration: ",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "ends_at": "2001-01-01T00:00:00Z"}),
            "ends_at: must be after starts_at",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "starts_at": "2000-01-01T00:00:00Z", "ends_at": "2001-01-01T00:00:00Z"}),
            "ends_at: must be in the future",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "duration": "1000000000d"}),
            "duration: a silence lasts at most 366 days",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "ends_at": "tomorrow"}),
            "ends_at: ",
        ),
        (
            json!({"matchers": {"bad key": "b"}, "comment": "c", "duration": "1h"}),
            "matchers.bad key: key must match",
        ),
        (
            json!({"rule_id": "r1", "comment": "c", "duration": "1h"}),
            "rule_id: must be a rule id",
        ),
        (
            json!({"matchers": {"a": "b"}, "comment": "c", "duration": "1h", "until": "x"}),
            "until: not a field here",
        ),
    ];
    for (args, expected) in cases {
        let message = client.refused("create_silence", args.clone()).await.message;
        assert!(message.contains(expected), "{args}: {message}");
    }
    let message = client
        .refused("delete_silence", json!({"id": "s1"}))
        .await
        .message;
    assert_eq!(message, "id: must be a silence id (a UUID)");
}
