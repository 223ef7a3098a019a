//! The gateway as its own OAuth 2.1 authorization server, and the checks
//! it makes as the MCP resource server.

pub mod access_token;
pub mod authority;
pub mod authorize;
pub mod clients;
pub mod metadata;
pub mod pages;
pub mod password;
pub mod refusal;
pub mod signing;
pub mod throttle;
pub mod token_endpoint;
pub mod web;
