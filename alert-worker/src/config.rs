//! The worker's configuration: defaults, then an optional TOML file, then
//! `MONITORS_*` environment variables, validated once at start. The source
//! settings are shared with the gateway, which runs the same engine
//! in-process in the one-command setup.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};
use shared_models::{rule::HumanDuration, secret::Secret};

use crate::error::{Error, Result};

const ENV_PREFIX: &str = "MONITORS_";

/// The `MONITORS_*` variables of `env` as a configuration layer, keys lower
/// cased without the prefix and values parsed the way figment's own `Env`
/// provider parses them (`false` a bool, `8080` a number). Taking the
/// environment as data keeps tests free of `set_var`.
pub fn env_layer(env: &[(String, String)]) -> figment::value::Dict {
    env.iter()
        .filter_map(|(key, value)| {
            let key = key.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
            (key != "config").then(|| (key, value.parse().unwrap_or_else(|never| match never {})))
        })
        .collect()
}

/// Where metric values come from: InfluxDB when a URL is set, otherwise the
/// built-in store in the product database.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceSettings {
    #[serde(default)]
    pub influx_url: Option<String>,
    /// The database for rules that name none (InfluxDB, and the built-in store).
    #[serde(default = "default_database")]
    pub influx_database: String,
    #[serde(default)]
    pub influx_token: Option<Secret<String>>,
    #[serde(default)]
    pub influx_username: Option<String>,
    #[serde(default)]
    pub influx_password: Option<Secret<String>>,
    #[serde(default = "default_query_timeout")]
    pub influx_timeout: HumanDuration,
    #[serde(default = "default_concurrency")]
    pub influx_max_concurrency: usize,
    /// Statements sent in one request; InfluxDB 3 answers only one.
    #[serde(default = "default_statements_per_request")]
    pub influx_statements_per_request: usize,
}

fn default_statements_per_request() -> usize {
    100
}

fn default_database() -> String {
    "monitors".to_owned()
}

fn default_query_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_concurrency() -> usize {
    8
}

impl SourceSettings {
    pub fn validate(&self) -> Result<()> {
        // This build's HTTP client carries no TLS stack, so https is refused
        // here, at start, rather than on the first query.
        if let Some(url) = &self.influx_url
            && !url.starts_with("http://")
        {
            return Err(Error::Config {
                key: "influx_url",
                reason: "must be an http:// URL (https is not supported yet; reach InfluxDB through a TLS-terminating proxy)".to_owned(),
            });
        }
        if self.influx_token.is_some() && self.influx_username.is_some() {
            return Err(Error::Config {
                key: "influx_token",
                reason: "give either a token or a username and password, not both".to_owned(),
            });
        }
        if self.influx_database.is_empty() {
            return Err(Error::Config {
                key: "influx_database",
                reason: "must not be empty".to_owned(),
            });
        }
        if self.influx_statements_per_request == 0 {
            return Err(Error::Config {
                key: "influx_statements_per_request",
                reason: "must be at least 1".to_owned(),
            });
        }
        if self.influx_max_concurrency == 0 {
            return Err(Error::Config {
                key: "influx_max_concurrency",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

/// Secrets at rest and the delivery of notifications. Shared with the
/// gateway, which seals channel configurations and sends test messages.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifySettings {
    /// 32 bytes, base64: the key that seals channel secrets. Without one, a
    /// key is generated once into `encryption_key_file`.
    #[serde(default)]
    pub encryption_key: Option<Secret<String>>,
    /// Earlier keys, comma-separated, still accepted for opening until
    /// `mcp-gateway keys rotate` has re-sealed everything.
    #[serde(default)]
    pub encryption_old_keys: Option<Secret<String>>,
    #[serde(default = "default_key_file")]
    pub encryption_key_file: PathBuf,
    /// Hosts and CIDRs that notifications may reach although they are not
    /// public (and over plain http), comma-separated: `127.0.0.1/32,relay.internal`.
    #[serde(default)]
    pub egress_allowlist: String,
    /// One attempt's limit, connection and answer together.
    #[serde(default = "default_notify_timeout")]
    pub notify_timeout: HumanDuration,
    /// After this many attempts a notification is marked failed.
    #[serde(default = "default_notify_max_attempts")]
    pub notify_max_attempts: u32,
    /// A notification older than this is marked failed instead of retried.
    #[serde(default = "default_notify_max_age")]
    pub notify_max_age: HumanDuration,
    /// Deliveries in flight at once, per process.
    #[serde(default = "default_notify_concurrency")]
    pub notify_concurrency: usize,
    /// The first retry's delay; each further retry doubles it (with jitter), up to `notify_backoff_max`.
    #[serde(default = "default_notify_backoff")]
    pub notify_backoff: HumanDuration,
    #[serde(default = "default_notify_backoff_max")]
    pub notify_backoff_max: HumanDuration,
}

fn default_key_file() -> PathBuf {
    PathBuf::from("./data/encryption.key")
}

fn default_notify_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_notify_max_attempts() -> u32 {
    12
}

fn default_notify_max_age() -> HumanDuration {
    HumanDuration::from_secs(24 * 3_600)
}

fn default_notify_concurrency() -> usize {
    16
}

fn default_notify_backoff() -> HumanDuration {
    HumanDuration::from_secs(1)
}

fn default_notify_backoff_max() -> HumanDuration {
    HumanDuration::from_secs(600)
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            encryption_key: None,
            encryption_old_keys: None,
            encryption_key_file: default_key_file(),
            egress_allowlist: String::new(),
            notify_timeout: default_notify_timeout(),
            notify_max_attempts: default_notify_max_attempts(),
            notify_max_age: default_notify_max_age(),
            notify_concurrency: default_notify_concurrency(),
            notify_backoff: default_notify_backoff(),
            notify_backoff_max: default_notify_backoff_max(),
        }
    }
}

impl NotifySettings {
    pub fn validate(&self) -> Result<()> {
        let positive = |key: &'static str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(Error::Config {
                    key,
                    reason: "must be greater than zero".to_owned(),
                })
            }
        };
        positive("notify_timeout", self.notify_timeout > HumanDuration::ZERO)?;
        positive("notify_max_attempts", self.notify_max_attempts > 0)?;
        positive("notify_max_age", self.notify_max_age > HumanDuration::ZERO)?;
        positive("notify_concurrency", self.notify_concurrency > 0)?;
        positive("notify_backoff", self.notify_backoff > HumanDuration::ZERO)?;
        if self.notify_backoff_max < self.notify_backoff {
            return Err(Error::Config {
                key: "notify_backoff_max",
                reason: "must be at least notify_backoff".to_owned(),
            });
        }
        Ok(())
    }

    /// The allowlist's entries, trimmed, empty ones dropped.
    pub fn egress_allowlist_entries(&self) -> Vec<String> {
        self.egress_allowlist
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// How rule changes reach the workers: announced through Redis when a URL
/// is set, and re-read from the database every `resync_every` regardless.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeSettings {
    #[serde(default)]
    pub redis_url: Option<Secret<String>>,
    /// The full re-read of a worker's rules. Without Redis it is the only
    /// way changes arrive, so it is 1 s; with Redis, a safety net.
    #[serde(default)]
    pub resync_every: Option<HumanDuration>,
}

impl ChangeSettings {
    pub fn refresh_every(&self) -> std::time::Duration {
        match (&self.resync_every, &self.redis_url) {
            (Some(every), _) => every.as_duration(),
            (None, Some(_)) => std::time::Duration::from_secs(15),
            (None, None) => std::time::Duration::from_secs(1),
        }
    }

    pub fn validate(&self) -> Result<()> {
        // This build's Redis client has no TLS: a rediss:// URL would pass
        // here and fail on every connection.
        if let Some(url) = &self.redis_url
            && !url.expose().starts_with("redis://")
        {
            return Err(Error::Config {
                key: "redis_url",
                reason: "must be a redis:// URL (TLS to Redis, rediss://, is not supported)"
                    .to_owned(),
            });
        }
        if self
            .resync_every
            .is_some_and(|d| d < HumanDuration::from_secs(1))
        {
            return Err(Error::Config {
                key: "resync_every",
                reason: "must be at least 1s".to_owned(),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerConfig {
    pub database_url: Secret<String>,
    #[serde(flatten)]
    pub sources: SourceSettings,
    #[serde(flatten)]
    pub notify: NotifySettings,
    #[serde(flatten)]
    pub changes: ChangeSettings,
    pub log_format: LogFormat,
    pub auto_migrate: bool,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_listen: SocketAddr,
    /// Shards rules are spread over; the same number as the gateway's.
    pub shard_count: u32,
    /// How long a shard lease lasts without renewal: a dead worker's
    /// shards are claimed by others after at most this long.
    pub lease_ttl: HumanDuration,
    /// This worker's name in the fleet; by default the host name and a
    /// random suffix, so that a restarted pod is a new member.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// Connections to the product database; the same setting as the
    /// gateway's.
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    log_format: LogFormat,
    auto_migrate: bool,
    metrics_listen: &'static str,
    shard_count: u32,
    lease_ttl: &'static str,
    db_max_connections: u32,
}

impl WorkerConfig {
    pub fn load(file: Option<PathBuf>, env: &[(String, String)]) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Defaults {
            database_url: "sqlite://./data/monitors.db?mode=rwc",
            log_format: LogFormat::Text,
            auto_migrate: true,
            metrics_listen: "127.0.0.1:9090",
            shard_count: 256,
            lease_ttl: "15s",
            db_max_connections: 8,
        }));
        let file = file.or_else(|| {
            env.iter()
                .find(|(k, _)| k == "MONITORS_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        if let Some(file) = file {
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Serialized::defaults(env_layer(env)));
        let config: Self = figment.extract().map_err(|e| Error::Config {
            key: "config",
            reason: e.to_string(),
        })?;
        config.sources.validate()?;
        config.notify.validate()?;
        config.changes.validate()?;
        if config.db_max_connections == 0 {
            return Err(Error::Config {
                key: "db_max_connections",
                reason: "must be at least 1".to_owned(),
            });
        }
        if config.shard_count == 0 {
            return Err(Error::Config {
                key: "shard_count",
                reason: "must be at least 1".to_owned(),
            });
        }
        if config.lease_ttl < HumanDuration::from_secs(3) {
            return Err(Error::Config {
                key: "lease_ttl",
                reason: "must be at least 3s (leases are renewed every third of it)".to_owned(),
            });
        }
        if let Some(id) = &config.worker_id {
            check_worker_id(id)?;
        }
        Ok(config)
    }
}

/// The fleet's tables keep ids of at most this many characters.
pub const MAX_WORKER_ID_LEN: usize = 36;

/// A worker id as the fleet's tables and `alert-worker status` can keep it:
/// a longer one would fail every lease round on a strict MySQL, or be cut
/// short, and so shared, on a lax one.
fn check_worker_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "must not be empty".to_owned()
    } else if id.chars().count() > MAX_WORKER_ID_LEN {
        format!(
            "must be at most {MAX_WORKER_ID_LEN} characters (leave it unset to have one made from the host name)"
        )
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        "may hold only letters, digits, '-', '_' and '.'".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::Config {
        key: "worker_id",
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_without_tls_only() {
        let ok = WorkerConfig::load(None, &env(&[("MONITORS_REDIS_URL", "redis://r:6379/")]));
        assert!(ok.is_ok());
        for wrong in ["rediss://r:6380/", "http://r"] {
            let err = WorkerConfig::load(None, &env(&[("MONITORS_REDIS_URL", wrong)])).unwrap_err();
            assert!(err.to_string().contains("redis_url"), "{wrong}: {err}");
        }
    }

    #[test]
    fn worker_ids_fit_the_fleet_tables() {
        let ok = WorkerConfig::load(
            None,
            &env(&[("MONITORS_WORKER_ID", "worker-7d9f8b6c5d.a_b")]),
        )
        .unwrap();
        assert_eq!(ok.worker_id.as_deref(), Some("worker-7d9f8b6c5d.a_b"));
        let long = "monitors-mcp-worker-7d9f8b6c5d-abcde-x";
        for (wrong, reason) in [
            ("", "must not be empty"),
            (long, "at most 36"),
            ("w 1", "only letters"),
        ] {
            let err = WorkerConfig::load(None, &env(&[("MONITORS_WORKER_ID", wrong)])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("worker_id") && text.contains(reason),
                "{wrong:?}: {text}"
            );
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn influx_settings_come_from_the_environment() {
        let config = WorkerConfig::load(
            None,
            &env(&[
                ("MONITORS_INFLUX_URL", "http://127.0.0.1:8086"),
                ("MONITORS_INFLUX_DATABASE", "markets"),
                ("MONITORS_INFLUX_TOKEN", "secret-token"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.sources.influx_url.as_deref(),
            Some("http://127.0.0.1:8086")
        );
        assert_eq!(config.sources.influx_database, "markets");
        assert!(!format!("{config:?}").contains("secret-token"));
    }

    #[test]
    fn defaults_use_the_builtin_store() {
        let config = WorkerConfig::load(None, &[]).unwrap();
        assert!(config.sources.influx_url.is_none());
        assert_eq!(config.sources.influx_database, "monitors");
        assert_eq!(config.sources.influx_timeout, HumanDuration::from_secs(10));
    }

    #[test]
    fn metrics_listen_defaults_to_loopback_and_names_itself_when_wrong() {
        let config = WorkerConfig::load(None, &[]).unwrap();
        assert_eq!(config.metrics_listen.to_string(), "127.0.0.1:9090");
        let config =
            WorkerConfig::load(None, &env(&[("MONITORS_METRICS_LISTEN", "0.0.0.0:9100")])).unwrap();
        assert_eq!(config.metrics_listen.to_string(), "0.0.0.0:9100");
        for wrong in ["nowhere", "9100", "localhost:9100"] {
            let err =
                WorkerConfig::load(None, &env(&[("MONITORS_METRICS_LISTEN", wrong)])).unwrap_err();
            assert!(err.to_string().contains("metrics_listen"), "{wrong}: {err}");
        }
    }

    #[test]
    fn contradictory_settings_are_refused() {
        let err = WorkerConfig::load(
            None,
            &env(&[
                ("MONITORS_INFLUX_URL", "http://x"),
                ("MONITORS_INFLUX_TOKEN", "t"),
                ("MONITORS_INFLUX_USERNAME", "u"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("configuration influx_token:"),
            "{err}"
        );
        let err =
            WorkerConfig::load(None, &env(&[("MONITORS_INFLUX_URL", "ftp://x")])).unwrap_err();
        assert!(err.to_string().contains("influx_url"), "{err}");
    }
}
