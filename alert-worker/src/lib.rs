//! The alert-evaluation engine: sources, the per-series state machine, the
//! scheduler that evaluates due rules, and the persistence of their state.
//!
//! # The front door
//!
//! What other crates (the gateway) use is re-exported here, and they import
//! it from here only:
//!
//! - running a worker: [`Worker`] (`build` for a fleet member, `embedded`
//!   for the gateway's in-process evaluator, then `run_until_stopped`), and
//!   the [`DispatchSettings`] an embedded one delivers with;
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
//! The modules stay public for this crate's own integration tests and
//! examples; nothing outside them should reach past this list.

pub mod config;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod source;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod worker;

pub use config::{SOURCE_DEFAULTS, SourceSettings};
pub use engine::{
    LoadedRule, Removal, data_check, delete_rule,
    preview::{Backtest, MAX_BACKTEST_TICKS, PreviewResult, backtest, preview_now},
};
pub use error::Error;
pub use notify::{Attempt, Delivery, dispatch::DispatchSettings, send::Sender};
pub use source::{CatalogRequest, MetricCatalog, MetricSource, SourceError, build_source};
pub use worker::Worker;
