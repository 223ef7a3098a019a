//! The gateway's one error type. `mcp::result` maps it to MCP tool results
//! and JSON-RPC errors, `auth` maps authentication failures to HTTP; both
//! keep internal causes out of responses and log the whole chain once.

use sea_orm::DbErr;
use shared_models::{FieldError, ModelError, crypto::CryptoError, keys::KeyringError};

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent a value we refuse; names the field. Transparent: the
    /// field error is the message, not also its cause (printed twice).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Missing, or owned by someone else: the two are deliberately alike.
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("database operation failed")]
    Database(#[from] DbErr),
    #[error("stored data could not be read")]
    Corrupt(#[from] ModelError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the system random number generator failed")]
    Random,
    /// The installation's keyring could not be loaded or does not open
    /// what the database holds; names the setting to fix.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// Something the worker crate does for the gateway failed (the embedded
    /// engine, a rule's removal), reported as that crate words it. Its
    /// database and source failures become [`Error::Database`] and
    /// [`Error::Source`], answered as the gateway's own are.
    #[error(transparent)]
    Worker(alert_worker::Error),
    /// A channel's configuration or a signing key could not be sealed or
    /// opened: a missing old key after a rotation, or a row that was
    /// tampered with.
    #[error("sealed secrets could not be sealed or opened")]
    Crypto(#[from] CryptoError),
    /// An access-token signing key could not be made or read.
    #[error("access-token signing keys: {0}")]
    SigningKey(String),
    /// The metrics store could not answer; the reason is safe to show.
    #[error("{0}")]
    Source(#[from] alert_worker::SourceError),
    /// The metrics registry refused a metric (a name given twice).
    #[error("the metrics registry could not be built")]
    Metrics(#[from] prometheus::Error),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<alert_worker::Error> for Error {
    fn from(error: alert_worker::Error) -> Self {
        match error {
            alert_worker::Error::Database(e) => Self::Database(e),
            alert_worker::Error::Source(e) => Self::Source(e),
            other => Self::Worker(other),
        }
    }
}

impl Error {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// Whether the client caused this error, so that it may be shown to them.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::Invalid(_) | Self::NotFound { .. } | Self::Conflict(_)
        )
    }
}

pub use shared_models::chain;

pub type Result<T, E = Error> = std::result::Result<T, E>;
