//! Domain types shared by the gateway and the worker fleet: the alert-rule
//! specification and its parsing, identifiers, the stable shard function and
//! the sea-orm entities that persist them.

pub mod channel;
pub mod crypto;
pub mod db;
pub mod entity;
mod error;
pub mod html;
pub mod ids;
pub mod json;
pub mod metrics;
pub mod notification;
pub mod rule;
pub mod secret;
pub mod series;
pub mod shard;
pub mod shutdown;
pub mod silence;
pub mod time;

pub use error::{FieldError, ModelError, chain};
