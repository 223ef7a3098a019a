//! Domain types shared by the gateway and the worker fleet: the alert-rule
//! specification and its parsing, identifiers, the stable shard function and
//! the sea-orm entities that persist them. Also the platform both binaries
//! run on: configuration layering, telemetry, the shutdown signal, the
//! keyring, the change bus and the egress-guarded HTTP client.

pub mod changes;
pub mod channel;
pub mod config;
pub mod crypto;
pub mod db;
pub mod entity;
mod error;
pub mod html;
pub mod ids;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod notification;
pub mod outbound;
pub mod rule;
pub mod secret;
pub mod series;
pub mod shard;
pub mod shutdown;
pub mod silence;
pub mod telemetry;
pub mod time;

pub use error::{FieldError, ModelError, chain};
