//! One encryption key per installation: `mcp-gateway keys rotate` run as
//! the operator would (the real binary against the database of a running
//! gateway), the start refused to a gateway that could not open what the
//! database holds, a notification whose channel will not open, and the
//! operator commands that need no key.

use std::{sync::Arc, time::Duration};

use mcp_gateway::{
    app::App,
    config::{Config, ConfigSource},
    error::chain,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use shared_models::{
    channel::{ChannelConfig, seal_context},
    crypto::Keyring,
    entity::notification_channel,
    time::SystemClock,
};
use tokio::net::TcpListener;

use alert_worker::testing::receiver::Receiver;

use crate::{
    evaluation::{rule, write_price},
    support::{
        Backend, McpClient, TestApp, TestDb, on_both_backends, run_operator, spawn_app,
        spawn_app_with, spawn_live_app, spawn_replica_with, test_config, wait_for,
    },
};

on_both_backends!(
    rotate_reseals_so_the_old_key_is_no_longer_needed,
    a_gateway_with_another_key_refuses_to_start,
    a_notification_whose_channel_will_not_open_fails_at_once,
    operator_commands_that_touch_no_secret_need_no_key,
);

/// Builds a gateway on `config` and returns why it refused to start.
async fn refusal(config: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    match App::build(config, Some(listener), Arc::new(SystemClock)).await {
        Ok(_) => panic!("the gateway started"),
        Err(error) => chain(&error),
    }
}

/// A user's token and client, and a webhook channel of theirs to a receiver
/// that answers 200.
async fn user_with_hook(app: &TestApp) -> (String, McpClient, Receiver, Value) {
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let receiver = Receiver::answering(200, "ok").await;
    let hook = client
        .ok(
            "create_notification_channel",
            json!({"name": "hook", "kind": "webhook", "config": {"url": receiver.url("/hook")}}),
        )
        .await;
    (token, client, receiver, hook)
}

fn key_id(key: &str) -> String {
    Keyring::from_base64(key, &[])
        .unwrap()
        .current_key_id()
        .to_owned()
}

/// Runs `keys rotate` with `current` and the comma-separated `old` keys and
/// returns what it printed.
fn rotate(app: &TestApp, current: &str, old: &str) -> String {
    let ran = run_operator(
        app,
        &["keys", "rotate"],
        &[
            ("MONITORS_ENCRYPTION_KEY", current),
            ("MONITORS_ENCRYPTION_OLD_KEYS", old),
        ],
        "",
    );
    assert!(
        ran.success,
        "keys rotate failed: {}{}",
        ran.stdout, ran.stderr
    );
    ran.stdout
}

async fn rotate_reseals_so_the_old_key_is_no_longer_needed(backend: Backend) {
    let old = Keyring::generate_key().unwrap();
    let new = Keyring::generate_key().unwrap();
    let app = spawn_app_with(backend, &[("MONITORS_ENCRYPTION_KEY", &old)]).await;
    let (token, client, receiver, hook) = user_with_hook(&app).await;
    client
        .ok(
            "create_notification_channel",
            json!({"name": "pager", "kind": "pagerduty",
                   "config": {"routing_key": "R0123456789abcdef", "events_url": receiver.url("/pd")}}),
        )
        .await;
    let before = notification_channel::Entity::find()
        .all(app.store.db())
        .await
        .unwrap();

    assert!(rotate(&app, &new, &old).contains("re-encrypted 2 "));
    assert!(
        rotate(&app, &new, &old).contains("re-encrypted 0 "),
        "a second run has nothing left to do"
    );

    let only_new = Keyring::from_base64(&new, &[]).unwrap();
    let after = notification_channel::Entity::find()
        .all(app.store.db())
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    for row in &after {
        assert_eq!(row.key_id, only_new.current_key_id());
        let earlier = before.iter().find(|b| b.id == row.id).unwrap();
        assert_eq!(row.version, earlier.version, "rotation is not a change");
        let config: ChannelConfig =
            serde_json::from_slice(&only_new.open(&row.sealed, &seal_context(&row.id)).unwrap())
                .unwrap();
        let config_before: ChannelConfig = serde_json::from_slice(
            &Keyring::from_base64(&old, &[])
                .unwrap()
                .open(&earlier.sealed, &seal_context(&earlier.id))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(config, config_before);
    }

    // A gateway left with only the old key now refuses to start.
    let refused = refusal(test_config(
        &app.database_url,
        &[("MONITORS_ENCRYPTION_KEY", &old)],
    ))
    .await;
    assert!(
        refused.contains(&format!(
            "sealed under key {}, which this process does not have (its keys: {})",
            key_id(&new),
            key_id(&old)
        )),
        "{refused}"
    );

    // A gateway that has only the new key sends through the re-sealed channel.
    let rotated = spawn_replica_with(&app, &[("MONITORS_ENCRYPTION_KEY", &new)]).await;
    let client = rotated.client(&token).await;
    let outcome = client
        .ok("test_notification_channel", json!({"id": hook["id"]}))
        .await;
    assert_eq!(outcome["delivered"], true, "{outcome}");
    assert_eq!(receiver.requests().len(), 1);
}

async fn a_gateway_with_another_key_refuses_to_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = Keyring::generate_key().unwrap();
    let refused = refusal(test_config(
        &app.database_url,
        &[("MONITORS_ENCRYPTION_KEY", &other)],
    ))
    .await;
    assert_eq!(
        refused,
        format!(
            "configuration encryption_key: this installation's secrets are sealed under key {}, \
which this process does not have (its keys: {}). Give every gateway and worker the installation's key in \
MONITORS_ENCRYPTION_KEY; after a rotation, keep the earlier key in MONITORS_ENCRYPTION_OLD_KEYS until \
`mcp-gateway keys rotate` has run",
            key_id(&app.encryption_key),
            key_id(&other)
        )
    );
    // With the installation's key kept as an old key, it starts.
    spawn_replica_with(
        &app,
        &[
            ("MONITORS_ENCRYPTION_KEY", &other),
            ("MONITORS_ENCRYPTION_OLD_KEYS", &app.encryption_key),
        ],
    )
    .await;
}

#[tokio::test]
async fn on_a_shared_database_a_gateway_without_a_key_refuses_to_start() {
    let (_db, url) = TestDb::create(Backend::MariaDb).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("encryption.key");
    let config = Config::load(&ConfigSource {
        file: None,
        env: [
            ("MONITORS_DATABASE_URL", url.as_str()),
            ("MONITORS_LISTEN", "127.0.0.1:0"),
            ("MONITORS_ENCRYPTION_KEY_FILE", key_file.to_str().unwrap()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec(),
    })
    .unwrap();
    let refused = refusal(config).await;
    assert!(
        refused.starts_with(
            "configuration encryption_key: MONITORS_ENCRYPTION_KEY must be set on a shared database (MySQL or MariaDB): \
every gateway and worker must seal and open channel secrets with the same key"
        ),
        "{refused}"
    );
    assert!(!key_file.exists(), "no key file for a shared database");
}

/// A channel sealed under a key this installation does not have (written
/// behind the gateway's back): its notification fails at once, and
/// `get_alert` says why.
async fn a_notification_whose_channel_will_not_open_fails_at_once(backend: Backend) {
    let app = spawn_live_app(backend, &[]).await;
    let (token, client, receiver, hook) = user_with_hook(&app).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    let stray = Keyring::from_base64(&Keyring::generate_key().unwrap(), &[]).unwrap();
    let row = notification_channel::Entity::find()
        .filter(notification_channel::Column::Id.eq(&id))
        .one(app.store.db())
        .await
        .unwrap()
        .unwrap();
    let config =
        ChannelConfig::open(&app.store.keyring(), &row.id, &row.sealed).expect("sealed here");
    let mut row: notification_channel::ActiveModel = row.into();
    row.sealed = Set(config.seal(&stray, &id).unwrap());
    row.key_id = Set(stray.current_key_id().to_owned());
    row.update(app.store.db()).await.unwrap();

    write_price(&app, &token, 71_000.0).await;
    client
        .ok("create_alert_rule", rule(json!({"channels": [id]})))
        .await;
    let delivery = wait_for(Duration::from_secs(15), "a failed delivery", || async {
        let alerts = client.ok("list_alerts", json!({})).await;
        let alert = alerts["alerts"].get(0)?.clone();
        let got = client.ok("get_alert", json!({"id": alert["id"]})).await;
        let delivery = got["deliveries"].get(0)?.clone();
        (delivery["status"] == "failed").then_some(delivery)
    })
    .await;
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    let error = delivery["last_error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "the channel is sealed under key {}, which this process does not have",
            stray.current_key_id()
        )),
        "{error}"
    );
    assert!(receiver.requests().is_empty());
}

async fn operator_commands_that_touch_no_secret_need_no_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.user_with_token("a@example.com").await;
    let keyless = |args: &[&str], stdin: &str| {
        let ran = run_operator(&app, args, &[], stdin);
        assert!(!ran.wrote_key_file, "{args:?} wrote a key file");
        ran
    };
    let created = keyless(
        &[
            "token",
            "create",
            "--user",
            "a@example.com",
            "--name",
            "reader",
            "--scopes",
            "alerts:read",
        ],
        "",
    );
    assert!(created.success, "{}", created.stderr);

    let listed = keyless(&["token", "list", "--user", "a@example.com"], "");
    assert!(listed.success, "{}", listed.stderr);
    let listing = listed.stdout;
    let header = listing.lines().next().unwrap();
    assert!(header.contains("  SCOPES  "), "{listing}");
    let scopes_of = |name: &str| {
        let line = listing
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(name))
            .unwrap_or_else(|| panic!("{name} listed: {listing}"));
        line.split_whitespace().skip(3).take(2).collect::<Vec<_>>()
    };
    assert_eq!(scopes_of("reader")[0], "alerts:read");
    assert_ne!(scopes_of("reader")[1], "alerts:write");
    assert_eq!(scopes_of("test"), ["alerts:read", "alerts:write"]);

    // A refused password is said once.
    let refused = keyless(
        &["user", "set-password", "--email", "a@example.com"],
        "short\n",
    );
    assert!(!refused.success);
    assert_eq!(
        refused.stderr.trim_end(),
        "mcp-gateway: password: the password must be at least 10 characters long"
    );
}
