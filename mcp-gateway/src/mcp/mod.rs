//! The MCP surface: one handler type whose tools are defined, one group per
//! file, in `tools/`.

mod args;
mod result;
mod schema;
mod scopes;
mod server;
mod tools;

pub use server::MonitorsMcp;
