//! The worker's configuration: the defaults written once in embedded TOML
//! (the settings shared with the gateway, the source settings, the
//! worker's own), then an optional TOML file, then `MONITORS_*` environment
//! variables, validated once at start. The source settings are shared with
//! the gateway, which runs the same engine in-process in the one-command
//! setup.

use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;
use shared_models::{
    config::{ChangeSettings, ConfigError, ConfigSource, LogFormat, NotifySettings, duration},
    secret::Secret,
};

/// The defaults of [`SourceSettings`]: a layer of every configuration that
/// holds them (the worker's and the gateway's).
pub const SOURCE_DEFAULTS: &str = include_str!("source_defaults.toml");

/// The worker's own defaults.
const WORKER_DEFAULTS: &str = include_str!("defaults.toml");

/// Where metric values come from: InfluxDB when a URL is set, otherwise the
/// built-in store in the product database.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceSettings {
    #[serde(default)]
    pub influx_url: Option<String>,
    /// The database for rules that name none (InfluxDB, and the built-in store).
    pub influx_database: String,
    #[serde(default)]
    pub influx_token: Option<Secret<String>>,
    #[serde(default)]
    pub influx_username: Option<String>,
    #[serde(default)]
    pub influx_password: Option<Secret<String>>,
    #[serde(deserialize_with = "duration::deserialize")]
    pub influx_timeout: Duration,
    pub influx_max_concurrency: usize,
    /// Statements sent in one request; InfluxDB 3 answers only one.
    pub influx_statements_per_request: usize,
}

impl SourceSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        // This build's HTTP client carries no TLS stack, so https is refused
        // here, at start, rather than on the first query.
        if let Some(url) = &self.influx_url
            && !url.starts_with("http://")
        {
            return Err(ConfigError::Invalid {
                key: "influx_url",
                reason: "must be an http:// URL (https is not supported yet; reach InfluxDB through a TLS-terminating proxy)".to_owned(),
            });
        }
        if self.influx_token.is_some() && self.influx_username.is_some() {
            return Err(ConfigError::Invalid {
                key: "influx_token",
                reason: "give either a token or a username and password, not both".to_owned(),
            });
        }
        if self.influx_database.is_empty() {
            return Err(ConfigError::Invalid {
                key: "influx_database",
                reason: "must not be empty".to_owned(),
            });
        }
        if self.influx_statements_per_request == 0 {
            return Err(ConfigError::Invalid {
                key: "influx_statements_per_request",
                reason: "must be at least 1".to_owned(),
            });
        }
        if self.influx_max_concurrency == 0 {
            return Err(ConfigError::Invalid {
                key: "influx_max_concurrency",
                reason: "must be at least 1".to_owned(),
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
    #[serde(deserialize_with = "duration::deserialize")]
    pub lease_ttl: Duration,
    /// This worker's name in the fleet; by default the host name and a
    /// random suffix, so that a restarted pod is a new member.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// Connections to the product database; the same setting as the
    /// gateway's.
    pub db_max_connections: u32,
}

impl WorkerConfig {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let config: Self = source.extract(&[SOURCE_DEFAULTS, WORKER_DEFAULTS])?;
        config.sources.validate()?;
        config.notify.validate()?;
        config.changes.validate()?;
        if config.db_max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "db_max_connections",
                reason: "must be at least 1".to_owned(),
            });
        }
        if config.shard_count == 0 {
            return Err(ConfigError::Invalid {
                key: "shard_count",
                reason: "must be at least 1".to_owned(),
            });
        }
        if config.lease_ttl < Duration::from_secs(3) {
            return Err(ConfigError::Invalid {
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
fn check_worker_id(id: &str) -> Result<(), ConfigError> {
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
    Err(ConfigError::Invalid {
        key: "worker_id",
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_without_tls_only() {
        let ok = WorkerConfig::load(&env(&[("MONITORS_REDIS_URL", "redis://r:6379/")]));
        assert!(ok.is_ok());
        for wrong in ["rediss://r:6380/", "http://r"] {
            let err = WorkerConfig::load(&env(&[("MONITORS_REDIS_URL", wrong)])).unwrap_err();
            assert!(err.to_string().contains("redis_url"), "{wrong}: {err}");
        }
    }

    #[test]
    fn worker_ids_fit_the_fleet_tables() {
        let ok =
            WorkerConfig::load(&env(&[("MONITORS_WORKER_ID", "worker-7d9f8b6c5d.a_b")])).unwrap();
        assert_eq!(ok.worker_id.as_deref(), Some("worker-7d9f8b6c5d.a_b"));
        let long = "monitors-mcp-worker-7d9f8b6c5d-abcde-x";
        for (wrong, reason) in [
            ("", "must not be empty"),
            (long, "at most 36"),
            ("w 1", "only letters"),
        ] {
            let err = WorkerConfig::load(&env(&[("MONITORS_WORKER_ID", wrong)])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("worker_id") && text.contains(reason),
                "{wrong:?}: {text}"
            );
        }
    }

    fn env(pairs: &[(&str, &str)]) -> ConfigSource {
        ConfigSource {
            file: None,
            env: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn influx_settings_come_from_the_environment() {
        let config = WorkerConfig::load(&env(&[
            ("MONITORS_INFLUX_URL", "http://127.0.0.1:8086"),
            ("MONITORS_INFLUX_DATABASE", "markets"),
            ("MONITORS_INFLUX_TOKEN", "secret-token"),
        ]))
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
        let config = WorkerConfig::load(&ConfigSource::default()).unwrap();
        assert!(config.sources.influx_url.is_none());
        assert_eq!(config.sources.influx_database, "monitors");
        assert_eq!(config.sources.influx_timeout, Duration::from_secs(10));
    }

    #[test]
    fn metrics_listen_defaults_to_loopback_and_names_itself_when_wrong() {
        let config = WorkerConfig::load(&ConfigSource::default()).unwrap();
        assert_eq!(config.metrics_listen.to_string(), "127.0.0.1:9090");
        let config =
            WorkerConfig::load(&env(&[("MONITORS_METRICS_LISTEN", "0.0.0.0:9100")])).unwrap();
        assert_eq!(config.metrics_listen.to_string(), "0.0.0.0:9100");
        for wrong in ["nowhere", "9100", "localhost:9100"] {
            let err = WorkerConfig::load(&env(&[("MONITORS_METRICS_LISTEN", wrong)])).unwrap_err();
            assert!(err.to_string().contains("metrics_listen"), "{wrong}: {err}");
        }
    }

    #[test]
    fn contradictory_settings_are_refused() {
        let err = WorkerConfig::load(&env(&[
            ("MONITORS_INFLUX_URL", "http://x"),
            ("MONITORS_INFLUX_TOKEN", "t"),
            ("MONITORS_INFLUX_USERNAME", "u"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().starts_with("configuration influx_token:"),
            "{err}"
        );
        let err = WorkerConfig::load(&env(&[("MONITORS_INFLUX_URL", "ftp://x")])).unwrap_err();
        assert!(err.to_string().contains("influx_url"), "{err}");
    }
}
