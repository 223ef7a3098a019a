use sea_orm::DbErr;
use shared_models::{config::ConfigError, keys::KeyringError};

/// The one error type of the worker crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database operation failed")]
    Database(#[from] DbErr),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// Another worker claimed a shard of the batch (or its lease lapsed)
    /// while it was being evaluated: its writes were refused.
    #[error("shard leases changed during the evaluation; its writes were refused")]
    Fenced,
    #[error("metrics registry")]
    Metrics(#[from] prometheus::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use shared_models::chain;
