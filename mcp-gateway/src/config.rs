//! The gateway's one configuration struct: the defaults written once in
//! embedded TOML (the settings shared with the worker, then the gateway's
//! own `defaults.toml`), then an optional TOML file, then `MONITORS_*`
//! environment variables, validated once at start.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alert_worker::{SOURCE_DEFAULTS, SourceSettings};
use serde::{Deserialize, Deserializer, Serialize};
pub use shared_models::config::{ConfigError, ConfigSource, LogFormat};
use shared_models::{
    config::{ChangeSettings, NotifySettings, duration},
    rule::RuleLimits,
    secret::Secret,
};
use url::Url;

/// The gateway's own defaults.
const GATEWAY_DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `sqlite://…` or `mysql://…`. May hold a password, hence secret.
    pub database_url: Secret<String>,
    pub listen: SocketAddr,
    /// Where Prometheus scrapes `/metrics`, apart from user traffic; off
    /// unless set.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// The URL clients use to reach this gateway, without `/mcp`: the one
    /// configured, or else `http://` and the listen address (the address
    /// bound, once [`Config::resolve_public_url`] has run). The connect line,
    /// the OAuth metadata and the start log all name it.
    #[serde(skip)]
    pub public_url: PublicUrl,
    /// `public_url` as configured, if it was.
    #[serde(rename = "public_url", default)]
    configured_public_url: Option<String>,
    /// Host headers accepted on `/mcp`; empty means derived from
    /// `public_url` plus loopback. `*` accepts any host.
    #[serde(deserialize_with = "string_list")]
    pub allowed_hosts: Vec<String>,
    /// Browser Origins accepted on `/mcp`; empty accepts requests that carry
    /// no Origin header only when they come from non-browser clients.
    #[serde(deserialize_with = "string_list")]
    pub allowed_origins: Vec<String>,
    #[serde(deserialize_with = "duration::deserialize")]
    pub min_interval: Duration,
    pub log_format: LogFormat,
    pub auto_migrate: bool,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    /// The longest any HTTP request may take, body and answer included;
    /// past it the request is answered 408 and its work dropped.
    #[serde(deserialize_with = "duration::deserialize")]
    pub request_timeout: Duration,
    pub shard_count: u32,
    /// On a database with no users, create `admin@localhost` and print a token.
    pub bootstrap_admin: bool,
    pub db_max_connections: u32,
    /// How long points written to the built-in metrics store are kept.
    #[serde(deserialize_with = "duration::deserialize")]
    pub points_retention: Duration,
    /// Evaluate rules in this process (the one-command setup); a fleet of
    /// `alert-worker` processes does it otherwise.
    pub embedded_worker: bool,
    /// Whether anyone may create an account on the sign-in page.
    pub signup: Signup,
    /// Lifetime of the OAuth access tokens this server issues.
    #[serde(deserialize_with = "duration::deserialize")]
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token (each use replaces it).
    #[serde(deserialize_with = "duration::deserialize")]
    pub refresh_token_ttl: Duration,
    /// Where rule values come from; shared with `alert-worker`.
    #[serde(flatten)]
    pub sources: SourceSettings,
    /// The key that seals channel secrets, the egress allowlist and delivery
    /// limits; shared with `alert-worker`, which delivers what this seals.
    #[serde(flatten)]
    pub notify: NotifySettings,
    /// Where rule writes are announced to the worker fleet (Redis).
    #[serde(flatten)]
    pub changes: ChangeSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    Open,
    Closed,
}

impl Config {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        if let Some(file) = source.file()
            && !file.exists()
        {
            return Err(ConfigError::Invalid {
                key: "config",
                reason: format!("file {} does not exist", file.display()),
            });
        }
        let config: Config = source.extract(&[SOURCE_DEFAULTS, GATEWAY_DEFAULTS])?;
        config.validate()
    }

    fn validate(mut self) -> Result<Self, ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("mysql://")
            || url.starts_with("mariadb://"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite:, mysql:// or mariadb://",
            ));
        }
        self.public_url = match &self.configured_public_url {
            Some(url) => PublicUrl::parse(url).ok_or_else(|| {
                invalid("public_url", "must be an absolute http:// or https:// URL")
            })?,
            None => PublicUrl::of_address(self.listen),
        };
        if self.min_interval < Duration::from_secs(1) {
            return Err(invalid("min_interval", "must be at least 1s"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(invalid(
                "max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        if self.shard_count == 0 || self.shard_count > 65_536 {
            return Err(invalid("shard_count", "must be between 1 and 65536"));
        }
        if self.db_max_connections == 0 {
            return Err(invalid("db_max_connections", "must be at least 1"));
        }
        // The shared settings fail with the same error type: nothing they
        // report is dropped or reworded.
        self.sources.validate()?;
        self.notify.validate()?;
        self.changes.validate()?;
        // The sweep runs every minute; a shorter retention would delete
        // points that rules with hour-long windows still need.
        if self.request_timeout < Duration::from_secs(1)
            || self.request_timeout > Duration::from_secs(600)
        {
            return Err(invalid("request_timeout", "must be between 1s and 10m"));
        }
        if self.points_retention < Duration::from_secs(3600) {
            return Err(invalid("points_retention", "must be at least 1h"));
        }
        if self.access_token_ttl < Duration::from_secs(60)
            || self.access_token_ttl > Duration::from_secs(24 * 3600)
        {
            return Err(invalid("access_token_ttl", "must be between 1m and 24h"));
        }
        if self.refresh_token_ttl < self.access_token_ttl {
            return Err(invalid(
                "refresh_token_ttl",
                "must be at least the access token's lifetime",
            ));
        }
        Ok(self)
    }

    /// Fixes the public URL once the listener is bound at `bound`: unless
    /// one is configured, `http://` and the bound address, so that port 0
    /// names the port the system chose. A wildcard bind names no address a
    /// client can use, and OAuth sends clients to this URL to sign in: that
    /// needs a configured URL.
    pub fn resolve_public_url(&mut self, bound: SocketAddr) -> Result<(), ConfigError> {
        if self.configured_public_url.is_some() {
            return Ok(());
        }
        if bound.ip().is_unspecified() {
            return Err(ConfigError::Invalid {
                key: "public_url",
                reason: format!(
                    "MONITORS_PUBLIC_URL must be set when MONITORS_LISTEN binds every interface ({bound}): \
the gateway cannot tell which address clients reach it at, and OAuth sign-in sends them to that URL. \
Set it to the address clients use, such as https://mcp.example.com (or http://127.0.0.1:{port} for this \
machine only), or listen on one address",
                    port = bound.port()
                ),
            });
        }
        self.public_url = PublicUrl::of_address(bound);
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }

    pub fn rule_limits(&self) -> RuleLimits {
        RuleLimits {
            min_interval: self.min_interval.into(),
            ..RuleLimits::default()
        }
    }

    /// The Host headers `/mcp` accepts: configured ones, or else the public
    /// URL's host and loopback. An empty result disables the check.
    pub fn effective_allowed_hosts(&self) -> Vec<String> {
        if self.allowed_hosts.iter().any(|h| h == "*") {
            return Vec::new();
        }
        if !self.allowed_hosts.is_empty() {
            return self.allowed_hosts.clone();
        }
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let host = self.public_url.host();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
        hosts
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.public_url)
    }

    /// Cookies are `Secure` unless the public URL is plain http (loopback
    /// development), where a browser would not send them back.
    pub fn is_https(&self) -> bool {
        self.public_url.0.scheme() == "https"
    }
}

/// The URL clients reach this gateway at: an absolute http:// or https://
/// URL with a host, shown without a trailing slash so that paths join it
/// with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(Url);

impl PublicUrl {
    /// `None` unless `url` is an absolute http:// or https:// URL with a host.
    fn parse(url: &str) -> Option<Self> {
        Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .map(Self)
    }

    /// `http://` and a socket address.
    fn of_address(addr: SocketAddr) -> Self {
        Self::parse(&format!("http://{addr}"))
            .unwrap_or_else(|| unreachable!("http:// and a socket address is a URL"))
    }

    /// The host, IPv6 addresses without their brackets.
    fn host(&self) -> String {
        self.0
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned()
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

/// Until [`Config::load`] sets it from the configuration or the listen
/// address.
impl Default for PublicUrl {
    fn default() -> Self {
        Self::of_address(SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for PublicUrl {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Accepts a list or one comma-separated string, so that the same key works
/// in TOML (`["a", "b"]`) and in the environment (`a,b`).
fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    let items = match Either::deserialize(deserializer)? {
        Either::One(s) => s.split(',').map(str::to_owned).collect(),
        Either::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

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
    fn the_default_shard_count_is_the_shared_one() {
        let config = Config::load(&env(&[])).unwrap();
        assert_eq!(
            config.shard_count,
            shared_models::shard::DEFAULT_SHARD_COUNT
        );
    }

    #[test]
    fn defaults_are_the_one_command_setup() {
        let config = Config::load(&env(&[])).unwrap();
        assert!(config.is_sqlite());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.mcp_url(), "http://127.0.0.1:8080/mcp");
        assert_eq!(config.min_interval, Duration::from_secs(10));
        assert!(config.auto_migrate);
    }

    #[test]
    fn the_public_url_defaults_to_the_listen_address() {
        let config = Config::load(&env(&[("MONITORS_LISTEN", "127.0.0.1:8081")])).unwrap();
        assert_eq!(config.mcp_url(), "http://127.0.0.1:8081/mcp");
        let config = Config::load(&env(&[("MONITORS_LISTEN", "[::1]:9000")])).unwrap();
        assert_eq!(config.public_url, "http://[::1]:9000");

        // Port 0: the port bound.
        let mut config = Config::load(&env(&[("MONITORS_LISTEN", "127.0.0.1:0")])).unwrap();
        config
            .resolve_public_url("127.0.0.1:41234".parse().unwrap())
            .unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:41234");

        // A configured URL is kept whatever is bound.
        let mut config = Config::load(&env(&[
            ("MONITORS_LISTEN", "0.0.0.0:8080"),
            ("MONITORS_PUBLIC_URL", "https://mcp.example.com/"),
        ]))
        .unwrap();
        config
            .resolve_public_url("0.0.0.0:8080".parse().unwrap())
            .unwrap();
        assert_eq!(config.public_url, "https://mcp.example.com");
    }

    #[test]
    fn a_wildcard_bind_needs_a_public_url() {
        for listen in ["0.0.0.0:8080", "[::]:8080"] {
            let mut config = Config::load(&env(&[("MONITORS_LISTEN", listen)])).unwrap();
            let bound = config.listen;
            let err = config.resolve_public_url(bound).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "configuration public_url: MONITORS_PUBLIC_URL must be set when MONITORS_LISTEN binds every interface ({bound})"
                )),
                "{err}"
            );
            assert!(
                err.contains("http://127.0.0.1:8080 for this machine only"),
                "{err}"
            );
        }
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "listen = \"0.0.0.0:9000\"\nmin_interval = \"30s\"\nallowed_hosts = [\"a.example\"]"
        )
        .unwrap();
        let source = ConfigSource {
            file: Some(file.path().to_owned()),
            env: vec![
                ("MONITORS_MIN_INTERVAL".into(), "1s".into()),
                ("MONITORS_AUTO_MIGRATE".into(), "false".into()),
                ("UNRELATED".into(), "x".into()),
            ],
        };
        let config = Config::load(&source).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.min_interval, Duration::from_secs(1));
        assert!(!config.auto_migrate);
        assert_eq!(config.allowed_hosts, vec!["a.example"]);
    }

    #[test]
    fn comma_separated_hosts_from_the_environment() {
        let config = Config::load(&env(&[(
            "MONITORS_ALLOWED_HOSTS",
            "mcp.example.com, other.example",
        )]))
        .unwrap();
        assert_eq!(
            config.effective_allowed_hosts(),
            vec!["mcp.example.com", "other.example"]
        );
        let config = Config::load(&env(&[("MONITORS_ALLOWED_HOSTS", "*")])).unwrap();
        assert!(config.effective_allowed_hosts().is_empty());
    }

    #[test]
    fn public_host_is_allowed_by_default() {
        let config = Config::load(&env(&[(
            "MONITORS_PUBLIC_URL",
            "https://alerts.example.com/",
        )]))
        .unwrap();
        assert_eq!(config.public_url, "https://alerts.example.com");
        assert!(
            config
                .effective_allowed_hosts()
                .contains(&"alerts.example.com".to_owned())
        );
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::load(&env(&[("MONITORS_DATABASE_URL", "postgres://x")])).unwrap_err();
        assert!(
            err.to_string().starts_with("configuration database_url:"),
            "{err}"
        );
        let err = Config::load(&env(&[("MONITORS_MIN_INTERVAL", "soon")])).unwrap_err();
        assert!(
            err.to_string().contains("min_interval") || err.to_string().contains("soon"),
            "{err}"
        );
        let err = Config::load(&env(&[("MONITORS_LISTEN", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
    }

    #[test]
    fn points_retention_defaults_to_a_week_and_is_at_least_an_hour() {
        let config = Config::load(&env(&[])).unwrap();
        assert_eq!(config.points_retention, Duration::from_secs(7 * 86_400));
        let config = Config::load(&env(&[("MONITORS_POINTS_RETENTION", "36h")])).unwrap();
        assert_eq!(config.points_retention, Duration::from_secs(36 * 3600));
        let err = Config::load(&env(&[("MONITORS_POINTS_RETENTION", "59m")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration points_retention: must be at least 1h"
        );
    }

    #[test]
    fn notification_settings_are_read_and_validated_with_the_rest() {
        let config = Config::load(&env(&[
            ("MONITORS_ENCRYPTION_KEY", "a-key-that-must-not-print"),
            ("MONITORS_EGRESS_ALLOWLIST", "127.0.0.1/32, relay.internal"),
            ("MONITORS_NOTIFY_TIMEOUT", "3s"),
        ]))
        .unwrap();
        assert_eq!(
            config.notify.egress_allowlist_entries(),
            vec!["127.0.0.1/32", "relay.internal"]
        );
        assert_eq!(config.notify.notify_timeout, Duration::from_secs(3));
        assert!(!format!("{config:?}").contains("a-key-that-must-not-print"));
        let err = Config::load(&env(&[("MONITORS_NOTIFY_MAX_ATTEMPTS", "0")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration notify_max_attempts: must be greater than zero"
        );
    }

    #[test]
    fn database_password_is_not_printed() {
        let config = Config::load(&env(&[(
            "MONITORS_DATABASE_URL",
            "mysql://root:hunter2@db/monitors",
        )]))
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
