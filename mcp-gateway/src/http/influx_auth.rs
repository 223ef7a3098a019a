//! Who is calling the InfluxDB-compatible endpoints (`/write`,
//! `/api/v2/write`, `/query`): the same API tokens as `/mcp`, in whichever
//! form InfluxDB clients send them.

use axum::{
    extract::{FromRequestParts, Query},
    http::{header, request::Parts},
};
use base64::Engine;
use serde::Deserialize;

use crate::{
    app::AppState,
    auth::{AuthError, Challenge, Principal, authenticate, scope::Scope},
};

/// The principal of a request: the `Authorization` header as on `/mcp`
/// (`Bearer` or, as InfluxDB 2 clients send it, `Token`), or, for InfluxDB
/// 1.x clients, the token as the password of HTTP Basic auth or of the `p=`
/// query parameter (the user name is ignored).
pub struct InfluxPrincipal(pub Principal);

impl InfluxPrincipal {
    /// Refuses a token that does not grant `scope`.
    pub fn require(&self, state: &AppState, scope: Scope) -> Result<(), Challenge> {
        if self.0.scopes.contains(scope) {
            Ok(())
        } else {
            Err(state.challenge(AuthError::InsufficientScope(scope)))
        }
    }
}

impl FromRequestParts<AppState> for InfluxPrincipal {
    type Rejection = Challenge;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = if let Some(password) = basic_password(parts) {
            authenticate(state, &password).await
        } else if parts.headers.contains_key(header::AUTHORIZATION) {
            return Principal::from_request_parts(parts, state)
                .await
                .map(InfluxPrincipal);
        } else {
            #[derive(Deserialize)]
            struct Password {
                p: Option<String>,
            }
            match Query::<Password>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|Query(q)| q.p)
                .filter(|p| !p.is_empty())
            {
                Some(password) => authenticate(state, &password).await,
                None => Err(AuthError::Missing),
            }
        };
        principal
            .map(InfluxPrincipal)
            .map_err(|error| state.challenge(error))
    }
}

/// A principal whose token may write: `alerts:write`.
pub struct InfluxWriter(pub Principal);

impl FromRequestParts<AppState> for InfluxWriter {
    type Rejection = Challenge;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = InfluxPrincipal::from_request_parts(parts, state).await?;
        caller.require(state, Scope::AlertsWrite)?;
        Ok(Self(caller.0))
    }
}

fn basic_password(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}
