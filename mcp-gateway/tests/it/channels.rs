use base64::{Engine, engine::general_purpose::STANDARD};
use ring::hmac;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use shared_models::{
    channel::{ChannelConfig, seal_context},
    crypto::Keyring,
    entity::{notification, notification_channel},
};

use alert_worker::testing::receiver::{Receiver, Recorded, closed_port};

use crate::support::{
    Backend, McpClient, TestApp, minimal_rule, on_both_backends, spawn_app, spawn_app_with,
};

on_both_backends!(
    create_list_update_delete,
    secrets_stay_sealed,
    another_user_sees_not_found,
    rules_name_only_their_owners_channels,
    delete_is_refused_while_a_rule_lists_the_channel,
    a_rule_and_a_delete_racing_leave_no_dangling_channel,
    bad_input_names_the_field,
    test_send_reports_what_the_receiver_answered,
);

/// A loopback URL (allowlisted in tests) whose path is the kind of
/// credential a Slack or Discord webhook URL carries.
fn hook_url(port: u16, secret: &str) -> String {
    format!("http://127.0.0.1:{port}/services/T000/B000/{secret}")
}

async fn create(client: &McpClient, name: &str, kind: &str, config: Value) -> Value {
    client
        .ok(
            "create_notification_channel",
            json!({"name": name, "kind": kind, "config": config}),
        )
        .await
}

async fn create_list_update_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;

    let slack = create(
        &client,
        "ops-slack",
        "slack",
        json!({"webhook_url": hook_url(9, "XXXXsecretXXXXabcd")}),
    )
    .await;
    let slack_id = slack["id"].as_str().expect("id").to_owned();
    assert_eq!(slack["name"], "ops-slack");
    assert_eq!(slack["kind"], "slack");
    assert_eq!(slack["version"], 1);
    assert_eq!(
        slack["config"],
        json!({"webhook_url": "http://127.0.0.1:9/…abcd"})
    );
    assert!(slack.get("signing_secret").is_none(), "{slack}");

    let hook = create(
        &client,
        "audit-hook",
        "webhook",
        json!({"url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let secret = hook["signing_secret"].as_str().expect("signing secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(
        hook["note"]
            .as_str()
            .unwrap()
            .contains("will not be shown again"),
        "{hook}"
    );
    assert_eq!(hook["config"]["signing_secret"], "whsec_…");

    let listed = client.ok("list_notification_channels", json!({})).await;
    let names: Vec<&str> = listed["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audit-hook", "ops-slack"], "newest first");
    assert!(!listed.to_string().contains(secret));
    let first = client
        .ok("list_notification_channels", json!({"limit": 1}))
        .await;
    assert_eq!(first["channels"].as_array().unwrap().len(), 1);
    let second = client
        .ok(
            "list_notification_channels",
            json!({"limit": 1, "cursor": first["next_cursor"]}),
        )
        .await;
    assert_eq!(second["channels"][0]["id"], slack_id);
    assert!(second.get("next_cursor").is_none());

    let renamed = client
        .ok(
            "update_notification_channel",
            json!({"id": slack_id, "name": "trading-slack"}),
        )
        .await;
    assert_eq!(renamed["name"], "trading-slack");
    assert_eq!(renamed["version"], 2);
    assert_eq!(renamed["config"], slack["config"]);
    let moved = client
        .ok(
            "update_notification_channel",
            json!({"id": slack_id, "config": {"webhook_url": hook_url(9, "YYYYsecretYYYYwxyz")}}),
        )
        .await;
    assert_eq!(
        moved["config"],
        json!({"webhook_url": "http://127.0.0.1:9/…wxyz"})
    );
    assert_eq!(moved["name"], "trading-slack");
    assert_eq!(moved["version"], 3);

    let taken = client
        .tool_error(
            "update_notification_channel",
            json!({"id": slack_id, "name": "audit-hook"}),
        )
        .await;
    assert!(
        taken.contains("named \"audit-hook\" already exists"),
        "{taken}"
    );
    let taken = client
        .tool_error(
            "create_notification_channel",
            json!({"name": "audit-hook", "kind": "discord", "config": {"webhook_url": "http://127.0.0.1:9/d"}}),
        )
        .await;
    assert!(taken.contains("already exists"), "{taken}");

    let deleted = client
        .ok("delete_notification_channel", json!({"id": slack_id}))
        .await;
    assert_eq!(deleted, json!({"id": slack_id, "deleted": true}));
    let listed = client.ok("list_notification_channels", json!({})).await;
    assert_eq!(listed["channels"].as_array().unwrap().len(), 1);
    let again = client
        .tool_error("delete_notification_channel", json!({"id": slack_id}))
        .await;
    assert_eq!(again, format!("notification channel {slack_id} not found"));
}

async fn secrets_stay_sealed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let secrets = [
        "SLACKPATHSECRET0001",
        "hunter2-smtp-password",
        "R0UTINGKEYSECRET0123456789abcdef",
        "SG.sendgridSECRETkey0001",
    ];
    let mut shown = Vec::new();
    shown.push(
        create(
            &client,
            "slack",
            "slack",
            json!({"webhook_url": hook_url(9, secrets[0])}),
        )
        .await,
    );
    shown.push(
        create(
            &client,
            "smtp",
            "email",
            json!({"host": "127.0.0.1", "port": 2525, "security": "none", "username": "alerts",
                   "password": secrets[1], "from": "alerts@example.com", "to": ["ops@example.com"]}),
        )
        .await,
    );
    shown.push(
        create(
            &client,
            "pager",
            "pagerduty",
            json!({"routing_key": secrets[2], "events_url": "http://127.0.0.1:9/v2/enqueue"}),
        )
        .await,
    );
    shown.push(
        create(
            &client,
            "sendgrid",
            "email",
            json!({"transport": "sendgrid", "api_key": secrets[3], "from": "alerts@example.com",
                   "to": ["ops@example.com"], "api_url": "http://127.0.0.1:9/v3/mail/send"}),
        )
        .await,
    );
    let mut hook = create(
        &client,
        "hook",
        "webhook",
        json!({"url": "http://127.0.0.1:9/h"}),
    )
    .await;
    let signing_secret = hook["signing_secret"].take();
    let signing_secret = signing_secret.as_str().unwrap().to_owned();
    shown.push(hook.clone());
    shown.push(client.ok("list_notification_channels", json!({})).await);
    let smtp_id = shown[1]["id"].clone();
    shown.push(
        client
            .ok(
                "update_notification_channel",
                json!({"id": smtp_id, "config": {"to": ["oncall@example.com"]}}),
            )
            .await,
    );
    assert_eq!(shown.last().unwrap()["config"]["password"], "…");
    // Refusals may quote the field, never the value.
    let refused = client
        .refused(
            "create_notification_channel",
            json!({"name": "bad", "kind": "discord",
                   "config": {"webhook_url": format!("https://user:{}@127.0.0.1/x", secrets[1])}}),
        )
        .await;
    let taken = client
        .tool_error(
            "create_notification_channel",
            json!({"name": "slack", "kind": "slack", "config": {"webhook_url": hook_url(9, secrets[0])}}),
        )
        .await;
    let shown = format!("{shown:?} {refused:?} {taken}");
    for secret in secrets.iter().copied().chain([signing_secret.as_str()]) {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }

    // At rest: only ciphertext, under the configured key, bound to its row.
    let keyring = Keyring::from_base64(&app.encryption_key, &[]).unwrap();
    let rows = notification_channel::Entity::find()
        .all(app.store.db())
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let mut opened = String::new();
    for row in &rows {
        let stored = format!("{row:?}");
        for secret in secrets.iter().copied().chain([signing_secret.as_str()]) {
            assert!(
                !stored.contains(secret),
                "{secret} stored in plaintext: {stored}"
            );
        }
        assert_eq!(row.key_id, keyring.current_key_id());
        let plain = keyring.open(&row.sealed, &seal_context(&row.id)).unwrap();
        let config: ChannelConfig = serde_json::from_slice(&plain).unwrap();
        opened.push_str(&serde_json::to_string(&config).unwrap());
        let other_row = rows.iter().find(|r| r.id != row.id).unwrap();
        assert!(
            keyring
                .open(&row.sealed, &seal_context(&other_row.id))
                .is_err()
        );
    }
    for secret in secrets.iter().copied().chain([signing_secret.as_str()]) {
        assert!(opened.contains(secret), "{secret} was kept");
    }
}

async fn another_user_sees_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token_a) = app.user_with_token("a@example.com").await;
    let (_, token_b) = app.user_with_token("b@example.com").await;
    let a = app.client(&token_a).await;
    let b = app.client(&token_b).await;
    let receiver = Receiver::answering(200, "ok").await;
    let channel = create(&a, "mine", "webhook", json!({"url": receiver.url("/hook")})).await;
    let id = channel["id"].as_str().unwrap();
    let not_found = format!("notification channel {id} not found");

    assert_eq!(
        b.ok("list_notification_channels", json!({})).await["channels"],
        json!([])
    );
    assert_eq!(
        b.tool_error(
            "update_notification_channel",
            json!({"id": id, "name": "theirs", "config": {"url": receiver.url("/stolen")}})
        )
        .await,
        not_found
    );
    assert_eq!(
        b.tool_error("test_notification_channel", json!({"id": id}))
            .await,
        not_found
    );
    assert_eq!(
        b.tool_error("delete_notification_channel", json!({"id": id}))
            .await,
        not_found
    );
    assert!(receiver.requests().is_empty(), "nothing was sent for B");
    // B may use the same name: names are unique per owner.
    create(&b, "mine", "webhook", json!({"url": receiver.url("/b")})).await;
    let listed = a.ok("list_notification_channels", json!({})).await;
    assert_eq!(listed["channels"][0]["name"], "mine");
    assert_eq!(listed["channels"][0]["version"], 1);
}

async fn rules_name_only_their_owners_channels(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token_a) = app.user_with_token("a@example.com").await;
    let (_, token_b) = app.user_with_token("b@example.com").await;
    let a = app.client(&token_a).await;
    let b = app.client(&token_b).await;
    let own =
        create(&a, "own", "slack", json!({"webhook_url": hook_url(9, "a")})).await["id"].clone();
    let foreign = create(
        &b,
        "foreign",
        "slack",
        json!({"webhook_url": hook_url(9, "b")}),
    )
    .await["id"]
        .clone();

    let mut rule = minimal_rule("notifies");
    rule["channels"] = json!([own]);
    let created = a.ok("create_alert_rule", rule.clone()).await;
    assert_eq!(created["channels"], json!([own]));

    rule["name"] = json!("steals");
    rule["channels"] = json!([own, foreign]);
    let refused = a.refused("create_alert_rule", rule.clone()).await;
    assert!(
        refused
            .message
            .starts_with("channels[1]: no such notification channel"),
        "{}",
        refused.message
    );
    rule["channels"] = json!([uuid::Uuid::now_v7().to_string()]);
    let refused = a.refused("create_alert_rule", rule).await;
    assert!(
        refused.message.starts_with("channels[0]: "),
        "{}",
        refused.message
    );
    let rules = a.ok("list_alert_rules", json!({})).await;
    assert_eq!(
        rules["rules"].as_array().unwrap().len(),
        1,
        "nothing written"
    );

    let refused = a
        .refused(
            "update_alert_rule",
            json!({"id": created["id"], "channels": [foreign]}),
        )
        .await;
    assert!(
        refused.message.starts_with("channels[0]: "),
        "{}",
        refused.message
    );
    let stored = a.ok("get_alert_rule", json!({"id": created["id"]})).await;
    assert_eq!(stored["channels"], json!([own]));
    assert_eq!(stored["version"], 1);
    let cleared = a
        .ok(
            "update_alert_rule",
            json!({"id": created["id"], "channels": []}),
        )
        .await;
    assert_eq!(cleared["channels"], json!([]));
}

async fn delete_is_refused_while_a_rule_lists_the_channel(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let id = create(
        &client,
        "ops",
        "slack",
        json!({"webhook_url": hook_url(9, "x")}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut rule_ids = Vec::new();
    for name in ["one", "two"] {
        let mut rule = minimal_rule(name);
        rule["channels"] = json!([id]);
        rule_ids.push(client.ok("create_alert_rule", rule).await["id"].clone());
    }
    // Mentioning the id elsewhere in a rule is not using the channel.
    let mut bystander = minimal_rule("mentions it");
    bystander["description"] = json!(format!("used to notify \"{id}\""));
    client.ok("create_alert_rule", bystander).await;

    let refused = client
        .tool_error("delete_notification_channel", json!({"id": id}))
        .await;
    assert!(
        refused.contains(&format!(
            "is used by 2 alert rules: \"one\" ({}), \"two\" ({});",
            rule_ids[0].as_str().unwrap(),
            rule_ids[1].as_str().unwrap()
        )),
        "{refused}"
    );
    client
        .ok(
            "update_alert_rule",
            json!({"id": rule_ids[0], "channels": []}),
        )
        .await;
    let refused = client
        .tool_error("delete_notification_channel", json!({"id": id}))
        .await;
    assert!(
        refused.contains(&format!(
            "is used by 1 alert rule: \"two\" ({});",
            rule_ids[1].as_str().unwrap()
        )),
        "{refused}"
    );
    client
        .ok("delete_alert_rule", json!({"id": rule_ids[1]}))
        .await;
    client
        .ok("delete_notification_channel", json!({"id": id}))
        .await;
}

/// A rule naming a channel and the channel's delete, sent together: one of
/// the two wins, and no rule is ever left naming a deleted channel.
async fn a_rule_and_a_delete_racing_leave_no_dangling_channel(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let rules = app.client(&token).await;
    let channels = app.client(&token).await;
    for round in 0..8 {
        let id = create(
            &channels,
            &format!("racing {round}"),
            "slack",
            json!({"webhook_url": hook_url(9, "x")}),
        )
        .await["id"]
            .clone();
        let mut rule = minimal_rule(&format!("rule {round}"));
        rule["channels"] = json!([id]);
        let (created, deleted) = tokio::join!(
            rules.call("create_alert_rule", rule),
            channels.call("delete_notification_channel", json!({"id": id})),
        );
        let rule_written = created.is_ok_and(|r| r.is_error == Some(false));
        let channel_deleted = deleted.expect("delete answers").is_error == Some(false);
        assert!(
            rule_written != channel_deleted,
            "round {round}: exactly one wins (rule {rule_written}, delete {channel_deleted})"
        );
        let listed = channels.ok("list_notification_channels", json!({})).await;
        let still_there = listed["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id);
        assert_eq!(still_there, rule_written, "round {round}");
    }
    let listed = rules.ok("list_alert_rules", json!({"limit": 200})).await;
    for summary in listed["rules"].as_array().unwrap() {
        let rule = rules
            .ok("get_alert_rule", json!({"id": summary["id"]}))
            .await;
        for channel in rule["channels"].as_array().unwrap() {
            let update = channels
                .call(
                    "update_notification_channel",
                    json!({"id": channel, "name": format!("kept {}", summary["id"])}),
                )
                .await
                .expect("update answers");
            assert_eq!(update.is_error, Some(false), "{channel} exists");
        }
    }
}

async fn bad_input_names_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let refused = |args: Value| {
        let client = &client;
        async move {
            client
                .refused("create_notification_channel", args)
                .await
                .message
        }
    };
    let cases = [
        (
            json!({"name": "x", "kind": "pigeon", "config": {}}),
            "kind: must be one of",
        ),
        (
            json!({"name": "x", "kind": "slack", "config": {"url": "http://127.0.0.1/x"}}),
            "config.url: not a field here",
        ),
        (
            json!({"name": "x", "kind": "slack", "config": {"webhook_url": "not a url"}}),
            "config.webhook_url: is not a valid URL",
        ),
        (
            json!({"name": "x", "kind": "email", "config": {"from": "a@example.com", "to": ["b@example.com"]}}),
            "config.host: is required",
        ),
        (
            json!({"name": "x", "kind": "email", "config": {"host": "127.0.0.1", "from": "a@example.com", "to": ["nobody"]}}),
            "config.to[0]: must be an email address",
        ),
        (
            json!({"name": " ", "kind": "slack", "config": {"webhook_url": "http://127.0.0.1/x"}}),
            "name: must not be empty",
        ),
        (json!({"kind": "slack", "config": {}}), "name: required"),
    ];
    for (args, expected) in cases {
        let message = refused(args.clone()).await;
        assert!(message.starts_with(expected), "{args}: {message}");
    }

    let id = create(
        &client,
        "ops",
        "slack",
        json!({"webhook_url": hook_url(9, "x")}),
    )
    .await["id"]
        .clone();
    let update = |args: Value| {
        let client = &client;
        async move {
            client
                .refused("update_notification_channel", args)
                .await
                .message
        }
    };
    let message = update(json!({"id": id})).await;
    assert!(message.starts_with("config: give a new name"), "{message}");
    let message = update(json!({"id": id, "config": {"kind": "discord"}})).await;
    assert!(
        message.starts_with("config.kind: not a field here"),
        "{message}"
    );
    let message = update(json!({"id": id, "config": {"webhook_url": null}})).await;
    assert!(
        message.starts_with("config.webhook_url: required"),
        "{message}"
    );
    let message = update(json!({"id": "nope", "name": "x"})).await;
    assert_eq!(message, "id: must be a notification channel id (a UUID)");
    let message = client
        .refused("test_notification_channel", json!({"id": id, "extra": 1}))
        .await
        .message;
    assert!(message.contains("extra: not a field here"), "{message}");
}

/// The Standard Webhooks check a receiver makes with the secret it was given.
fn signed_with(secret: &str, request: &Recorded) -> bool {
    let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut content =
        format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).into_bytes();
    content.extend_from_slice(&request.body);
    let expected = STANDARD.encode(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &key),
        &content,
    ));
    header("webhook-signature")
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

async fn test_send_reports_what_the_receiver_answered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let happy = Receiver::answering(200, "thanks, got it").await;
    let created = create(
        &client,
        "hook",
        "webhook",
        json!({"url": happy.url("/hook")}),
    )
    .await;
    let id = created["id"].clone();
    let secret = created["signing_secret"].as_str().unwrap().to_owned();

    let outcome = client
        .ok("test_notification_channel", json!({"id": id}))
        .await;
    assert_eq!(outcome["delivered"], true, "{outcome}");
    assert_eq!(outcome["status"], 200);
    assert!(
        outcome["answer"]
            .as_str()
            .unwrap()
            .starts_with("thanks, got it"),
        "{outcome}"
    );
    let received = happy.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/hook");
    assert!(
        signed_with(&secret, &received[0]),
        "signed with the secret shown at creation"
    );

    // A new URL keeps the secret the receiver already has.
    let failing = Receiver::answering(500, "internal trouble").await;
    client
        .ok(
            "update_notification_channel",
            json!({"id": id, "config": {"url": failing.url("/hook")}}),
        )
        .await;
    let outcome = client
        .ok("test_notification_channel", json!({"id": id}))
        .await;
    assert_eq!(outcome["delivered"], false, "{outcome}");
    assert_eq!(outcome["status"], 500);
    assert_eq!(outcome["retryable"], true);
    assert!(outcome["error"].is_string(), "{outcome}");
    assert!(signed_with(&secret, &failing.requests()[0]));

    let down = create(
        &client,
        "down",
        "slack",
        json!({"webhook_url": hook_url(closed_port(), "DOWNPATHSECRET42")}),
    )
    .await;
    let outcome = client
        .ok("test_notification_channel", json!({"id": down["id"]}))
        .await;
    assert_eq!(outcome["delivered"], false, "{outcome}");
    assert!(outcome["error"].is_string(), "{outcome}");
    assert!(
        !outcome.to_string().contains("DOWNPATHSECRET42"),
        "{outcome}"
    );

    // A test is sent, not recorded.
    let recorded = notification::Entity::find()
        .count(app.store.db())
        .await
        .unwrap();
    assert_eq!(recorded, 0);
}

/// With no allowlist, nothing but public addresses may be reached.
#[tokio::test]
async fn destinations_that_are_not_public_are_refused_at_creation() {
    let app: TestApp = spawn_app_with(Backend::Sqlite, &[("MONITORS_EGRESS_ALLOWLIST", "")]).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    for url in [
        "https://localhost/hooks/SSRFSECRET",
        "https://127.0.0.1:8443/hooks/SSRFSECRET",
        "https://10.1.2.3/hooks/SSRFSECRET",
        "https://169.254.169.254/latest/meta-data/SSRFSECRET",
        "https://[::ffff:192.168.1.1]/hooks/SSRFSECRET",
    ] {
        let refused = client
            .refused(
                "create_notification_channel",
                json!({"name": "internal", "kind": "webhook", "config": {"url": url}}),
            )
            .await
            .message;
        assert!(
            refused.starts_with("config.url: is not an allowed destination: "),
            "{url}: {refused}"
        );
        assert!(!refused.contains("SSRFSECRET"), "{refused}");
    }
    let refused = client
        .refused(
            "create_notification_channel",
            json!({"name": "internal", "kind": "email",
                   "config": {"host": "localhost", "from": "a@example.com", "to": ["b@example.com"]}}),
        )
        .await
        .message;
    assert!(
        refused.starts_with("config.host: is not an allowed destination: "),
        "{refused}"
    );
    let refused = client
        .refused(
            "create_notification_channel",
            json!({"name": "internal", "kind": "pagerduty",
                   "config": {"routing_key": "R0123", "events_url": "https://10.0.0.1/v2/enqueue"}}),
        )
        .await
        .message;
    assert!(refused.starts_with("config.events_url: "), "{refused}");
    assert_eq!(
        client.ok("list_notification_channels", json!({})).await["channels"],
        json!([]),
        "nothing written"
    );
}
