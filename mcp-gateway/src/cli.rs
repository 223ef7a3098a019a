//! The `mcp-gateway` command line: `serve` (the default) and the operator tasks.

use std::{path::PathBuf, sync::Arc};

use chrono::Utc;
use clap::{Parser, Subcommand};
use ring::rand::SystemRandom;
use shared_models::{
    crypto::Keyring,
    keys::{open_keyring, reseal_check},
    rule::HumanDuration,
    time::SystemClock,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::{
    app::App,
    auth::{
        scope::Scopes,
        token::{self, TokenDigest},
    },
    bootstrap,
    config::{Config, ConfigSource},
    db,
    error::{Error, Result},
    oauth::{clients::RedirectUri, password},
    store::{Email, Store},
};

#[derive(Debug, Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "monitors-mcp: alert rules for language-model assistants, over MCP"
)]
pub struct Cli {
    /// TOML configuration file (also MONITORS_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 if a running gateway on the configured address is ready.
    Healthcheck,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the keys that encrypt notification channel secrets.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth clients registered by the operator.
    #[command(subcommand, name = "oauth-client")]
    OauthClient(OauthClientCommand),
    /// Manage the keys that sign OAuth access tokens.
    #[command(subcommand, name = "oauth-keys")]
    OauthKeys(OauthKeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum OauthClientCommand {
    /// Register a client; prints its id (and, with --confidential, its
    /// secret, shown only this once).
    Create {
        #[arg(long)]
        name: String,
        /// Where the client receives codes (repeatable): https, or http on loopback.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Give the client a secret to authenticate with at the token endpoint.
        #[arg(long)]
        confidential: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OauthKeysCommand {
    /// Sign with a new key from now on; tokens signed by the old one stay
    /// valid until they expire (every replica re-reads keys within a minute).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every channel secret under the current key
    /// (MONITORS_ENCRYPTION_KEY), opening those sealed under an older one
    /// with MONITORS_ENCRYPTION_OLD_KEYS. Safe to run again; afterwards the
    /// old keys are no longer needed.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        /// Read a password for the sign-in page from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set (or replace) a user's password, read from standard input.
    SetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Space-separated scopes: alerts:read, alerts:write.
        #[arg(long, default_value = "alerts:read alerts:write")]
        scopes: String,
        /// Lifetime such as 90d; no expiry when omitted.
        #[arg(long)]
        expires_in: Option<HumanDuration>,
    },
    /// List a user's tokens (never their secrets).
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by id.
    Revoke { id: String },
}

pub async fn run(cli: Cli, config: Config, shutdown: CancellationToken) -> Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, shutdown).await,
        Command::Migrate => {
            let connection = db::connect(&config).await?;
            db::migrate(&connection).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Healthcheck => healthcheck(&config).await,
        Command::User(UserCommand::Create {
            email,
            password_stdin,
        }) => {
            let store = admin_store(&config, Keys::NotNeeded).await?;
            // Read first: a bad password leaves no half-made user behind.
            let hash = if password_stdin {
                Some(password_from_stdin().await?)
            } else {
                None
            };
            let user = store.create_user(&Email::parse(&email)?).await?;
            if let Some(hash) = hash {
                store.set_password_hash(user.id, hash).await?;
            }
            println!("created user {} ({})", user.email, user.id);
            Ok(())
        }
        Command::User(UserCommand::SetPassword { email }) => {
            let store = admin_store(&config, Keys::NotNeeded).await?;
            let user = store.require_user(&Email::parse(&email)?).await?;
            let hash = password_from_stdin().await?;
            store.set_password_hash(user.id, hash).await?;
            println!("password set for {}", user.email);
            Ok(())
        }
        Command::OauthClient(OauthClientCommand::Create {
            name,
            redirect_uris,
            confidential,
        }) => {
            let store = admin_store(&config, Keys::NotNeeded).await?;
            for (n, uri) in redirect_uris.iter().enumerate() {
                RedirectUri::parse(uri).map_err(|e| {
                    shared_models::FieldError::new(
                        format!("redirect_uri[{n}]"),
                        e.reason().to_owned(),
                    )
                })?;
            }
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(
                    shared_models::FieldError::new("name", "must be 1 to 100 characters").into(),
                );
            }
            let secret = if confidential {
                Some(
                    token::random_secret(&SystemRandom::new(), "mcps_")
                        .map_err(|_| Error::Random)?,
                )
            } else {
                None
            };
            let digest = secret.as_deref().map(TokenDigest::of);
            let client = store
                .create_client(name, &redirect_uris, "operator", digest.as_ref())
                .await?;
            println!("client_id: {}", client.id);
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                eprintln!("the secret is shown only this once");
            }
            Ok(())
        }
        Command::OauthKeys(OauthKeysCommand::Rotate) => {
            let store = admin_store(&config, Keys::Seal).await?;
            let kid = store.rotate_signing_key(&SystemRandom::new()).await?;
            println!("access tokens are now signed with key {kid}");
            Ok(())
        }
        Command::Token(command) => token(command, &config).await,
        Command::Keys(KeysCommand::Rotate) => {
            let store = admin_store(&config, Keys::Seal).await?;
            let resealed = store.reseal_stale_channels().await?;
            let keys = store.reseal_stale_signing_keys().await?;
            // Last: from now on, a process with only the old key refuses to
            // start instead of failing to open what was re-sealed.
            reseal_check(store.db(), &store.keyring()).await?;
            println!(
                "re-encrypted {resealed} notification channel(s) and {keys} access-token signing key(s) under the current key"
            );
            Ok(())
        }
    }
}

/// A password from standard input (one line, or all of it), hashed.
async fn password_from_stdin() -> Result<String> {
    let mut raw = String::new();
    tokio::io::stdin()
        .read_to_string(&mut raw)
        .await
        .map_err(Error::io("reading the password from standard input"))?;
    let line = raw.strip_suffix('\n').unwrap_or(&raw);
    let line = line.strip_suffix('\r').unwrap_or(line).to_owned();
    let chosen = password::Password::parse(line)
        .map_err(|e| shared_models::FieldError::new("password", e.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&chosen, &SystemRandom::new()))
        .await
        .map_err(|_| Error::Random)?
        .map_err(|_| Error::Random)
}

async fn serve(config: Config, shutdown: CancellationToken) -> Result<()> {
    let app = App::build(config, None, Arc::new(SystemClock)).await?;
    if let Some(first) = &app.first_start {
        println!("{}", bootstrap::banner(first, &app.state.config.mcp_url()));
    }
    app.run_until_stopped(shutdown).await
}

/// Whether an operator task seals or opens secrets.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// It does: the keyring is loaded and checked as `serve` does.
    Seal,
    /// It touches no secret, so it needs no key and creates no key file.
    NotNeeded,
}

async fn admin_store(config: &Config, keys: Keys) -> Result<Store> {
    let connection = db::connect(config).await?;
    if config.auto_migrate {
        db::migrate(&connection).await?;
    }
    let keyring = match keys {
        Keys::Seal => open_keyring(&config.notify, &connection).await?,
        Keys::NotNeeded => Keyring::without_keys(),
    };
    Ok(Store::new(
        connection,
        Arc::new(SystemClock),
        config.rule_limits(),
        config.shard_count,
        Arc::new(keyring),
    ))
}

async fn token(command: TokenCommand, config: &Config) -> Result<()> {
    let store = admin_store(config, Keys::NotNeeded).await?;
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires_in,
        } => {
            let scopes = Scopes::parse(&scopes, "scopes")?;
            let user = store.require_user(&Email::parse(&user)?).await?;
            let expires_at = expires_in
                .map(|d| chrono::Duration::from_std(d.as_duration()).map(|d| Utc::now() + d))
                .transpose()
                .map_err(|_| shared_models::FieldError::new("expires_in", "is too long"))?;
            let (record, secret) = store
                .create_token(user.id, &name, scopes, expires_at, &SystemRandom::new())
                .await?;
            println!("{}", secret.expose());
            eprintln!(
                "token {} for {} created{}; it is shown only this once",
                record.id,
                user.email,
                record
                    .expires_at
                    .map(|at| format!(", expires {at}"))
                    .unwrap_or_default()
            );
        }
        TokenCommand::List { user } => {
            let user = store.require_user(&Email::parse(&user)?).await?;
            println!(
                "{:<36}  {:<12}  {:<20}  {:<26}  {:<24}  {:<24}  STATUS",
                "ID", "PREFIX", "NAME", "SCOPES", "CREATED", "LAST USED"
            );
            for t in store.list_tokens(user.id).await? {
                let status = match (&t.revoked_at, &t.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) => format!("expires {at}"),
                    (None, None) => "active".to_owned(),
                };
                println!(
                    "{:<36}  {:<12}  {:<20}  {:<26}  {:<24}  {:<24}  {status}",
                    t.id,
                    t.prefix,
                    t.name,
                    t.scopes,
                    t.created_at,
                    t.last_used_at.as_deref().unwrap_or("never"),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let record = store.revoke_token(&id).await?;
            println!("revoked token {} ({})", record.id, record.name);
        }
    }
    Ok(())
}

/// A bare HTTP/1.0 GET of `/readyz`, so the check needs no HTTP client.
async fn healthcheck(config: &Config) -> Result<()> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let io = Error::io(format!("checking http://{addr}/readyz"));
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    let request = format!("GET /readyz HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut response = String::new();
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        stream.read_to_string(&mut response).await
    };
    exchange.await.map_err(Error::io("reading /readyz"))?;
    if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
        println!("ready");
        Ok(())
    } else {
        Err(Error::Io {
            context: "gateway is not ready".to_owned(),
            source: std::io::Error::other(response.lines().next().unwrap_or_default().to_owned()),
        })
    }
}

pub fn config_source(cli: &Cli) -> ConfigSource {
    ConfigSource::from_process(cli.config.clone())
}
