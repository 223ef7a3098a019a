//! Rule writes announced to the worker fleet through Redis (the local
//! server the CI starts): create, update and delete each publish the
//! rule's shard and id after their commit.

use std::time::Duration;

use deadpool_redis::redis;
use futures_util::StreamExt;
use serde_json::json;

use crate::support::{Backend, minimal_rule, on_both_backends, spawn_app_with};

on_both_backends!(create_update_and_delete_are_announced);

fn redis_url() -> String {
    std::env::var("MONITORS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

async fn create_update_and_delete_are_announced(backend: Backend) {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.expect("Redis reachable");
    pubsub
        .subscribe(shared_models::changes::CHANNEL)
        .await
        .unwrap();
    let mut messages = pubsub.into_on_message();

    let app = spawn_app_with(backend, &[("MONITORS_REDIS_URL", url.as_str())]).await;
    let (_, token) = app.user_with_token("a@example.com").await;
    let client = app.client(&token).await;
    let created = client
        .ok("create_alert_rule", minimal_rule("BTC above 70k"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let expected = format!("{}:{id}", created["shard"]);
    client
        .ok("update_alert_rule", json!({"id": id, "enabled": false}))
        .await;
    client.ok("delete_alert_rule", json!({"id": id})).await;

    // Other tests may announce their own rules on the same channel.
    let mut heard = 0;
    while heard < 3 {
        let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("an announcement within 5 s")
            .expect("the subscription stays open");
        let payload: String = message.get_payload().unwrap();
        if payload == expected {
            heard += 1;
        }
    }
}
