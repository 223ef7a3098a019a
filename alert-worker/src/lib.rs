//! The alert-evaluation engine: sources, the per-series state machine, the
//! scheduler that evaluates due rules, and the persistence of their state.

pub mod config;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod source;
#[cfg(feature = "test-support")]
pub mod testing;
mod worker;

pub use worker::Worker;
