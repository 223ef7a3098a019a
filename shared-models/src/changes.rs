//! Rule changes, pushed from the gateway to the workers through Redis
//! pub/sub so that a created, changed, paused or deleted rule reaches its
//! worker within moments. Nothing depends on a message arriving: each
//! worker also re-reads its rules every `resync_every`, and publishing is
//! best effort (a failure is logged, never returned to the client).

use std::{sync::Arc, time::Duration};

use deadpool_redis::{
    Config as PoolConfig, Pool, Runtime,
    redis::{self, AsyncCommands},
};
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{chain, config::ConfigError, shard::Shard};

/// The pub/sub channel rule changes are announced on.
pub const CHANNEL: &str = "monitors:rule-changes";
/// The channel revoked OAuth connections are announced on, so that every
/// gateway replica refuses their tokens at once.
pub const REVOCATIONS: &str = "monitors:revocations";

/// The gateway's side: announces that a rule changed.
#[derive(Clone)]
pub struct ChangePublisher {
    pool: Pool,
}

impl std::fmt::Debug for ChangePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePublisher")
    }
}

impl ChangePublisher {
    pub fn new(redis_url: &str) -> Result<Self, ConfigError> {
        let pool = PoolConfig::from_url(redis_url)
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| ConfigError::Invalid {
                key: "redis_url",
                reason: e.to_string(),
            })?;
        Ok(Self { pool })
    }

    /// Announces a change to `rule` (in `shard`). Best effort: the
    /// workers' periodic resync picks up whatever a lost message missed.
    pub async fn rule_changed(&self, rule: &str, shard: Shard) {
        if let Err(error) = self.publish(CHANNEL, format!("{shard}:{rule}")).await {
            tracing::warn!(%error, "announcing a rule change failed; workers see it at their next resync");
        }
    }

    /// Publishes `message` on `channel`.
    pub async fn publish(&self, channel: &str, message: String) -> std::result::Result<(), String> {
        let mut connection = self.pool.get().await.map_err(|e| e.to_string())?;
        connection
            .publish::<_, _, i64>(channel, message)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// The worker's side: wakes `refresh` on every announced change, until
/// `shutdown`. A lost connection (a Redis restart) is retried with backoff;
/// after reconnecting it wakes `refresh` once, since changes made while it
/// was away were not heard.
pub async fn listen(redis_url: String, refresh: Arc<Notify>, shutdown: CancellationToken) {
    subscribe(redis_url, CHANNEL, move |_| refresh.notify_one(), shutdown).await;
}

/// Calls `heard` with each message on `channel` until `shutdown`, and with
/// `None` each time the subscription is (re)made, since messages sent
/// while it was away were not heard. A lost connection is retried with
/// backoff.
pub async fn subscribe(
    redis_url: String,
    channel: &'static str,
    mut heard: impl FnMut(Option<String>),
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = async {
            let client = redis::Client::open(redis_url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            () = shutdown.cancelled() => return,
            session = session => session,
        };
        match pubsub {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                heard(None);
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        message = messages.next() => match message {
                            Some(message) => heard(Some(message.get_payload().unwrap_or_default())),
                            None => break,
                        },
                    }
                }
                tracing::warn!(channel, "Redis subscription ended; reconnecting");
            }
            Err(error) => {
                tracing::warn!(channel, error = %chain(&error), "subscribing through Redis failed; retrying");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
