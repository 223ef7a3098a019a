//! The gateway as its own OAuth 2.1 authorization server, and the checks
//! it makes as the MCP resource server.

pub mod access_token;
pub mod pages;
pub mod password;
pub mod signing;
pub mod throttle;
pub mod authority;
pub mod metadata;
pub mod refusal;
pub mod token_endpoint;
pub mod web;
pub mod authorize;
