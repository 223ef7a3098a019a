//! OAuth 2.1 end to end, as Claude's connector runs it: rmcp's OAuth client
//! discovers the server through the 401, registers, a user signs in and
//! consents on the real pages over HTTP, the code is exchanged, tools are
//! called with the access token, it is refreshed, and revocation stops it.
//! And the refusals: PKCE, codes, resources, redirect URIs, audiences,
//! expiry, refresh-token replay, CSRF, password guessing.

mod accounts;
mod browser;
mod client;
mod clients;
mod flow;
mod tokens;

pub(crate) use browser::{
    Browser, PASSWORD, absolute, attribute, sign_in, sign_in_and_consent, user_with_password,
};
pub(crate) use client::{
    Flow, REDIRECT, authorize_url, exchange, ping, pkce, query_of, refresh, register, token_request,
};
pub(crate) use clients::documented_client;

use std::{collections::BTreeMap, time::Duration};

use alert_worker::testing::{
    receiver::{Receiver, Reply},
    within,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_gateway::{
    oauth::password::{self, Password},
    store::Email,
};
use reqwest::{StatusCode, header};
use ring::{
    digest::{SHA256, digest},
    rand::SystemRandom,
};
use rmcp::transport::auth::{
    AuthorizationCallback, AuthorizationManager, AuthorizationRequest, AuthorizationSession,
};
use serde_json::{Value, json};

use crate::support::{
    Backend, McpClient, TestApp, minimal_rule, on_both_backends, run_operator, spawn_app,
};
