//! Settings hold [`Duration`]; these read it in the syntax settings have
//! always taken ("30s", "15m", "2h"), the one [`HumanDuration`] parses.
//! Use with `#[serde(deserialize_with = "shared_models::config::duration::deserialize")]`,
//! or `duration::option` for an optional setting.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::rule::HumanDuration;

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    HumanDuration::deserialize(deserializer).map(|d| d.as_duration())
}

/// The same, for an `Option<Duration>` setting.
pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    Option::<HumanDuration>::deserialize(deserializer).map(|d| d.map(|d| d.as_duration()))
}
