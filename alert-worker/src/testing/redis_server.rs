//! A private `redis-server` for tests that restart Redis under a listener,
//! leaving the machine's shared server alone.

use std::time::Duration;

use crate::testing::{
    daemon::{Daemon, free_port, scratch_dir},
    within,
};
use deadpool_redis::redis;
use shared_models::changes::CHANNEL;

/// A private `redis-server` on a free loopback port, keeping nothing on
/// disk.
pub struct Redis {
    port: u16,
    daemon: Daemon,
}

impl Redis {
    const START_DEADLINE: Duration = Duration::from_secs(10);

    pub fn start() -> Self {
        let port = free_port().unwrap();
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .to_vec();
        let daemon = Daemon::start(
            "redis-server",
            scratch_dir("redis-test-").unwrap(),
            "redis-server",
            args,
            Self::START_DEADLINE,
            || listening(port),
        )
        .unwrap();
        Self { port, daemon }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits until `listeners` subscribers hear the rule-change channel, so
    /// that a message published next reaches them.
    pub async fn subscribed(&self, listeners: i64) {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        within(
            &format!("{listeners} subscriptions to {CHANNEL}"),
            Duration::from_secs(10),
            async || {
                let (_, count): (String, i64) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(CHANNEL)
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| e.to_string())?;
                match count {
                    n if n >= listeners => Ok(()),
                    n => Err(format!("{n} subscribers")),
                }
            },
        )
        .await;
    }

    /// kill -9 and start again on the same port, empty.
    pub fn restart(&mut self) {
        let port = self.port;
        self.daemon
            .restart(Self::START_DEADLINE, || listening(port))
            .unwrap();
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}
