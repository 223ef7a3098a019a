//! Tracing setup for every binary: one function, the writer passed in, so
//! tests can capture it.

use std::io::IsTerminal;

use tracing_subscriber::{
    EnvFilter, fmt::MakeWriter, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::config::LogFormat;

/// Logs to standard error, the binaries' setup: colours only when standard
/// error is a terminal, so that a file, a pipe or a log collector gets
/// plain text.
pub fn init_stderr(format: LogFormat) {
    init(format, std::io::stderr, std::io::stderr().is_terminal());
}

/// Logs to `writer`; `ansi` colours the text format (never JSON).
pub fn init<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("MONITORS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,rmcp=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests, subcommands) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_writer(writer))
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(writer),
            )
            .try_init(),
    };
}
