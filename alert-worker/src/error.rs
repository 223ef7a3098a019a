use sea_orm::DbErr;

/// The one error type of the worker crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database operation failed")]
    Database(#[from] DbErr),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("configuration {key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Renders an error with every `source()` in its chain, for the log.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
