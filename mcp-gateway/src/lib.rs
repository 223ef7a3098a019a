//! The monitors-mcp gateway: MCP over Streamable HTTP, bearer-token auth,
//! and the rule and alert store.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod store;
