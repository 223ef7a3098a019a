//! `mcp-gateway keys rotate`, run as the operator would: the real binary
//! against the database of a running gateway.

use std::process::Command;

use sea_orm::EntityTrait;
use serde_json::json;
use shared_models::{
    channel::{ChannelConfig, seal_context},
    crypto::Keyring,
    entity::notification_channel,
};

use alert_worker::testing::receiver::Receiver;

use crate::support::{Backend, TestApp, on_both_backends, spawn_app_with, spawn_replica_with};

on_both_backends!(rotate_reseals_so_the_old_key_is_no_longer_needed);

/// Runs `keys rotate` with `current` and the comma-separated `old` keys and
/// returns what it printed.
fn rotate(app: &TestApp, current: &str, old: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["keys", "rotate"])
        .env_clear()
        .env("MONITORS_DATABASE_URL", &app.database_url)
        .env("MONITORS_ENCRYPTION_KEY", current)
        .env("MONITORS_ENCRYPTION_OLD_KEYS", old)
        .output()
        .expect("mcp-gateway runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "keys rotate failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn rotate_reseals_so_the_old_key_is_no_longer_needed(backend: Backend) {
    let old = Keyring::generate_key().unwrap();
    let new = Keyring::generate_key().unwrap();
    let app = spawn_app_with(backend, &[("MONITORS_ENCRYPTION_KEY", &old)]).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let receiver = Receiver::answering(200, "ok").await;
    let hook = client
        .ok(
            "create_notification_channel",
            json!({"name": "hook", "kind": "webhook", "config": {"url": receiver.url("/hook")}}),
        )
        .await;
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

    // A gateway that has only the new key sends through the re-sealed channel.
    let rotated = spawn_replica_with(&app, &[("MONITORS_ENCRYPTION_KEY", &new)]).await;
    let client = rotated.client(&token).await;
    let outcome = client
        .ok("test_notification_channel", json!({"id": hook["id"]}))
        .await;
    assert_eq!(outcome["delivered"], true, "{outcome}");
    assert_eq!(receiver.requests().len(), 1);
}
