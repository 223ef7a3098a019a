//! Bearer-token authentication as an extractor: a handler or middleware that
//! takes a [`Principal`] runs only for authenticated requests.

pub mod scope;
pub mod token;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

pub use crate::store::{Credential, Principal};
use crate::{app::AppState, error::chain, oauth::access_token, store::TokenRejection};
use scope::{Scope, Scopes};

/// Why a request was refused before reaching a tool.
#[derive(Debug)]
pub enum AuthError {
    /// No `Authorization: Bearer` header at all.
    Missing,
    Rejected(TokenRejection),
    /// A good token without the scope the request needs: 403.
    InsufficientScope(Scope),
    /// The token could not be checked (database down): 503, not 401, so
    /// clients retry instead of discarding a good token.
    Unavailable,
}

/// An [`AuthError`] answered with the challenge that tells an OAuth client
/// where to learn how to get a token (RFC 9728 §5.1).
pub struct Challenge {
    pub error: AuthError,
    pub resource_metadata: String,
}

impl IntoResponse for Challenge {
    fn into_response(self) -> Response {
        let metadata = format!(r#"resource_metadata="{}""#, self.resource_metadata);
        let (status, challenge, body) = match self.error {
            AuthError::Missing => (
                StatusCode::UNAUTHORIZED,
                format!(r#"Bearer {metadata}, scope="{}""#, Scopes::all()),
                json!({"error": "unauthorized", "error_description": "an Authorization: Bearer token is required"}),
            ),
            AuthError::Rejected(reason) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    r#"Bearer {metadata}, error="invalid_token", error_description="{reason}""#
                ),
                json!({"error": "invalid_token", "error_description": reason.to_string()}),
            ),
            AuthError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                format!(
                    r#"Bearer {metadata}, error="insufficient_scope", scope="{}", error_description="this request needs the {} scope""#,
                    scope.as_str(),
                    scope.as_str()
                ),
                json!({"error": "insufficient_scope", "error_description": format!("this request needs the {} scope", scope.as_str()), "scope": scope.as_str()}),
            ),
            AuthError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                String::new(),
                json!({"error": "temporarily_unavailable", "error_description": "try again shortly"}),
            ),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge)
            && !challenge.is_empty()
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The token of an `Authorization: Bearer` header, or of `Token`, the
/// scheme InfluxDB 2 clients (Telegraf, the client libraries) send.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

/// Checks a presented token: an access token this server issued (from
/// memory), or an API token (from the database, cached). Any other token is
/// refused, never passed on anywhere.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<Principal, AuthError> {
    if access_token::looks_like_jwt(presented) {
        return state
            .authority
            .authenticate(presented)
            .map_err(AuthError::Rejected);
    }
    match state.store.authenticate(presented).await {
        Ok(Ok(principal)) => Ok(principal),
        Ok(Err(rejection)) => Err(AuthError::Rejected(rejection)),
        Err(error) => {
            tracing::error!(error = %chain(&error), "token check failed");
            Err(AuthError::Unavailable)
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Challenge;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let checked = match bearer(parts) {
            Some(presented) => authenticate(state, presented).await,
            None => Err(AuthError::Missing),
        };
        checked.map_err(|error| state.challenge(error))
    }
}

/// Middleware for services that are not axum handlers (the MCP service):
/// authenticates, checks the scope the JSON-RPC request needs, then hands
/// the principal on in the request extensions.
pub async fn require_principal(
    State(state): State<AppState>,
    principal: Principal,
    mut request: Request,
    next: Next,
) -> Response {
    tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
    // A token with every scope needs no look inside: the common case costs
    // nothing. An API token cannot step up, so the challenge would only
    // reach its client as a failed request: the tool call itself refuses
    // it, in words the model can pass on (see `mcp::scopes`).
    let can_step_up = matches!(principal.credential, Credential::Connection(_));
    if can_step_up && !principal.scopes.covers(Scopes::all()) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, state.config.max_body_bytes).await else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        let needed = needed_scope(&parts.method, &bytes, &state.write_tools);
        if !principal.scopes.contains(needed) {
            return state
                .challenge(AuthError::InsufficientScope(needed))
                .into_response();
        }
        request = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    request.extensions_mut().insert(principal);
    // rmcp answers the call on a task of its own: the tool call finds the
    // request's span here, to name the tool in it and to log beneath it.
    request.extensions_mut().insert(tracing::Span::current());
    next.run(request).await
}

/// The scope a `/mcp` request needs: `alerts:write` for a call of a tool
/// that changes something (in a batch, if any call does), else
/// `alerts:read`. A body that does not parse needs only `alerts:read`:
/// rmcp refuses it on its own.
fn needed_scope(
    method: &axum::http::Method,
    body: &[u8],
    write_tools: &std::collections::HashSet<String>,
) -> Scope {
    #[derive(serde::Deserialize)]
    struct Call {
        method: Option<String>,
        params: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Message {
        One(Call),
        Batch(Vec<Call>),
    }
    if method != axum::http::Method::POST {
        return Scope::AlertsRead;
    }
    let calls = match serde_json::from_slice::<Message>(body) {
        Ok(Message::One(call)) => vec![call],
        Ok(Message::Batch(calls)) => calls,
        Err(_) => return Scope::AlertsRead,
    };
    let writes = calls.iter().any(|call| {
        call.method.as_deref() == Some("tools/call")
            && call
                .params
                .as_ref()
                .and_then(|p| p.name.as_deref())
                .is_some_and(|name| Scope::to_call(name, write_tools) == Scope::AlertsWrite)
    });
    if writes {
        Scope::AlertsWrite
    } else {
        Scope::AlertsRead
    }
}
