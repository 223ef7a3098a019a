//! The tools, one group per file, and the output types groups share.

mod alerts;
mod channels;
mod connections;
mod metrics;
mod rules;
mod silences;

use std::fmt::Display;

use rmcp::schemars::{self, JsonSchema};
use serde::Serialize;

/// What a delete tool answers: the id it deleted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

impl Deleted {
    pub fn of(id: impl Display) -> Self {
        Self {
            id: id.to_string(),
            deleted: true,
        }
    }
}
