//! Support for the process tests: what needs the built binary. Everything
//! else is in `alert_worker::testing`, shared with the crate's own tests.

pub mod processes;
