//! The alert-evaluation engine: sources, the per-series state machine, the
//! scheduler that evaluates due rules, and the persistence of their state.
//!
//! # The front door
//!
//! What other crates (the gateway, and this package's `alert-worker`
//! binary) use is re-exported here, and they import it from here only:
//!
//! - running a worker: [`Worker`] (`build` for a fleet member from its
//!   [`WorkerConfig`], `embedded` for the gateway's in-process evaluator,
//!   then `run_until_stopped`), and the [`DispatchSettings`] an embedded one
//!   delivers with;
//! - the fleet's status for `alert-worker status`: [`members`] and
//!   [`unowned_shards`];
//! - the source settings both binaries read: [`SourceSettings`] and their
//!   defaults, [`SOURCE_DEFAULTS`];
//! - metric sources: the [`MetricSource`] trait, [`build_source`], the
//!   catalog ([`CatalogRequest`], [`MetricCatalog`]) and [`SourceError`];
//! - rule preview: [`LoadedRule`], [`data_check`], [`preview_now`],
//!   [`backtest`] and their results;
//! - a rule's removal with its side effects: [`delete_rule`];
//! - a test notification: [`Sender`], [`Delivery`], [`Attempt`];
//! - the crate's one error, [`Error`].
//!
//! Everything else is `pub(crate)`. The crate's process tests and examples
//! (the benchmarks) and the gateway's tests reach the internals they drive
//! through `testing`, which only the `test-support` feature compiles.

pub(crate) mod config;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod fleet;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod notify;
pub(crate) mod source;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod worker;

pub use config::{SOURCE_DEFAULTS, SourceSettings, WorkerConfig};
pub use engine::{
    LoadedRule, Removal, data_check, delete_rule,
    preview::{Backtest, MAX_BACKTEST_TICKS, PreviewResult, backtest, preview_now},
};
pub use error::Error;
pub use fleet::{members, unowned_shards};
pub use notify::{Attempt, Delivery, dispatch::DispatchSettings, send::Sender};
pub use source::{CatalogRequest, MetricCatalog, MetricSource, SourceError, build_source};
pub use worker::Worker;
