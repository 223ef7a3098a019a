//! The worker's configuration: defaults, then an optional TOML file, then
//! `MONITORS_*` environment variables, validated once at start. The source
//! settings are shared with the gateway, which runs the same engine
//! in-process in the one-command setup.

use std::path::PathBuf;

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

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerConfig {
    pub database_url: Secret<String>,
    #[serde(flatten)]
    pub sources: SourceSettings,
    pub log_format: LogFormat,
    pub auto_migrate: bool,
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
}

impl WorkerConfig {
    pub fn load(file: Option<PathBuf>, env: &[(String, String)]) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Defaults {
            database_url: "sqlite://./data/monitors.db?mode=rwc",
            log_format: LogFormat::Text,
            auto_migrate: true,
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
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
