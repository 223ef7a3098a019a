//! Configuration layering for both binaries: the shared defaults and the
//! binary's own (embedded TOML, written once), then an optional TOML file,
//! then `MONITORS_*` environment variables. Also the settings both binaries
//! read (sealing, notification delivery, change announcements), the log
//! format, and the one error a configuration can fail with.

use std::{path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub mod duration;

const ENV_PREFIX: &str = "MONITORS_";

/// The defaults of [`NotifySettings`], the first layer of every load.
const SHARED_DEFAULTS: &str = include_str!("notify_defaults.toml");

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Where configuration comes from: the optional file and the environment.
/// Taking the environment as data keeps tests free of `set_var`.
#[derive(Debug, Default, Clone)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl ConfigSource {
    pub fn from_process(file: Option<PathBuf>) -> Self {
        Self {
            file,
            env: std::env::vars().collect(),
        }
    }

    /// The file given, or else the one `MONITORS_CONFIG` names.
    pub fn file(&self) -> Option<PathBuf> {
        self.file.clone().or_else(|| {
            self.env
                .iter()
                .find(|(k, _)| k == "MONITORS_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        })
    }

    /// The layers in order: the shared defaults, `defaults` (embedded TOML
    /// documents: the binary's own, and those of settings it shares), the
    /// file, the environment.
    pub fn figment(&self, defaults: &[&str]) -> Figment {
        let mut figment = Figment::from(Toml::string(SHARED_DEFAULTS));
        for layer in defaults {
            figment = figment.merge(Toml::string(layer));
        }
        if let Some(file) = self.file() {
            figment = figment.merge(Toml::file(file));
        }
        figment.merge(Serialized::defaults(env_layer(&self.env)))
    }

    /// The layers extracted into `T`, which the caller then validates.
    pub fn extract<'de, T: Deserialize<'de>>(&self, defaults: &[&str]) -> Result<T, ConfigError> {
        self.figment(defaults)
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))
    }
}

/// The `MONITORS_*` variables of `env` as a configuration layer, keys lower
/// cased without the prefix and values parsed the way figment's own `Env`
/// provider parses them (`false` a bool, `8080` a number).
pub fn env_layer(env: &[(String, String)]) -> figment::value::Dict {
    env.iter()
        .filter_map(|(key, value)| {
            let key = key.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
            (key != "config").then(|| (key, value.parse().unwrap_or_else(|never| match never {})))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
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
    pub encryption_key_file: PathBuf,
    /// Hosts and CIDRs that notifications may reach although they are not
    /// public (and over plain http), comma-separated: `127.0.0.1/32,relay.internal`.
    pub egress_allowlist: String,
    /// One attempt's limit, connection and answer together.
    #[serde(deserialize_with = "duration::deserialize")]
    pub notify_timeout: Duration,
    /// After this many attempts a notification is marked failed.
    pub notify_max_attempts: u32,
    /// A notification older than this is marked failed instead of retried.
    #[serde(deserialize_with = "duration::deserialize")]
    pub notify_max_age: Duration,
    /// Deliveries in flight at once, per process.
    pub notify_concurrency: usize,
    /// The first retry's delay; each further retry doubles it (with jitter), up to `notify_backoff_max`.
    #[serde(deserialize_with = "duration::deserialize")]
    pub notify_backoff: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub notify_backoff_max: Duration,
}

impl NotifySettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |key: &'static str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    reason: "must be greater than zero".to_owned(),
                })
            }
        };
        positive("notify_timeout", self.notify_timeout > Duration::ZERO)?;
        positive("notify_max_attempts", self.notify_max_attempts > 0)?;
        positive("notify_max_age", self.notify_max_age > Duration::ZERO)?;
        positive("notify_concurrency", self.notify_concurrency > 0)?;
        positive("notify_backoff", self.notify_backoff > Duration::ZERO)?;
        if self.notify_backoff_max < self.notify_backoff {
            return Err(ConfigError::Invalid {
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
    #[serde(default, deserialize_with = "duration::option")]
    pub resync_every: Option<Duration>,
}

impl ChangeSettings {
    pub fn refresh_every(&self) -> Duration {
        match (&self.resync_every, &self.redis_url) {
            (Some(every), _) => *every,
            (None, Some(_)) => Duration::from_secs(15),
            (None, None) => Duration::from_secs(1),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        // This build's Redis client has no TLS: a rediss:// URL would pass
        // here and fail on every connection.
        if let Some(url) = &self.redis_url
            && !url.expose().starts_with("redis://")
        {
            return Err(ConfigError::Invalid {
                key: "redis_url",
                reason: "must be a redis:// URL (TLS to Redis, rediss://, is not supported)"
                    .to_owned(),
            });
        }
        if self
            .resync_every
            .is_some_and(|d| d < Duration::from_secs(1))
        {
            return Err(ConfigError::Invalid {
                key: "resync_every",
                reason: "must be at least 1s".to_owned(),
            });
        }
        Ok(())
    }
}

impl Default for NotifySettings {
    /// The shared defaults alone, as a binary starts with no file and no
    /// environment.
    fn default() -> Self {
        Figment::from(Toml::string(SHARED_DEFAULTS))
            .extract()
            .unwrap_or_else(|e| unreachable!("the embedded notify_defaults.toml is valid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_defaults_are_the_documented_ones() {
        let notify = NotifySettings::default();
        assert_eq!(
            notify.encryption_key_file,
            PathBuf::from("./data/encryption.key")
        );
        assert_eq!(notify.notify_timeout, Duration::from_secs(10));
        assert_eq!(notify.notify_max_attempts, 12);
        assert_eq!(notify.notify_max_age, Duration::from_secs(24 * 3_600));
        assert_eq!(notify.notify_concurrency, 16);
        assert_eq!(notify.notify_backoff, Duration::from_secs(1));
        assert_eq!(notify.notify_backoff_max, Duration::from_secs(600));
        assert!(notify.egress_allowlist.is_empty());
        notify.validate().unwrap();
    }
}
