//! The gateway as its own OAuth 2.1 authorization server, and the checks
//! it makes as the MCP resource server.

pub mod access_token;
pub mod account;
pub mod authority;
pub mod authorize;
pub mod clients;
pub mod home;
pub mod metadata;
pub mod pages;
pub mod password;
pub mod refusal;
pub mod register;
pub mod signing;
pub mod throttle;
pub mod token_endpoint;
pub mod web;

use axum::Router;

use crate::app::AppState;

/// Every OAuth route: discovery, the authorization server's endpoints and
/// its pages, and the home page that leads to them.
pub fn router() -> Router<AppState> {
    home::router()
        .merge(metadata::router())
        .merge(authorize::router())
        .merge(token_endpoint::router())
        .merge(register::router())
        .merge(account::router())
}
